/* placeholder: being written */ typedef int isec_placeholder_entropy;
