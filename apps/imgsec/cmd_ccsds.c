/* imgsec ccsds encode|decode|info: the CCSDS 122.0-B-2 image codec on the command line. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "imgsec/ccsds.h"

#include "cli.h"
#include "imageio.h"

static void usage(FILE *f)
{
    fprintf(
        f, "usage: imgsec ccsds encode [--lossless | --bpp RATE] [--segment S] IN OUT.c122\n"
           "       imgsec ccsds decode [--raw] [--be] [--strict] [--max-pixels N] IN.c122 OUT.pgm\n"
           "       imgsec ccsds info IN.c122\n"
           "encode: IN is PGM or PNG (8/16-bit gray), or raw with --width W --height H --depth D\n"
           "  [--signed] [--be]. --lossless (default): integer DWT, all bit planes. --bpp RATE:\n"
           "  SegByteLimit = RATE*S*8 bytes per segment (float DWT unless --integer).\n"
           "  Other options: --float, --integer, --limit BYTES (SegByteLimit), --dc-stop,\n"
           "  --bitplane-stop B --stage-stop 1..4, --fill (UseFill), --heuristic (Table 4-10 k),\n"
           "  --word BYTES (CodeWordLength 1..8), --all-headers (parts 2-4 in every segment),\n"
           "  --transpose (code the image transposed, TransposeImg=1: decoders transpose back).\n"
           "decode: writes PGM (signed samples offset by 2^(depth-1)), or raw samples with --raw\n"
           "  (16-bit little-endian unless --be). A truncated stream is decoded from what arrived\n"
           "  (warning; --strict makes it an error). --max-pixels N: largest image accepted\n"
           "  (default 67108864 padded samples).\n"
           "info: every header field of every segment and its layer byte ranges.\n");
}

static int read_all(const char *path, uint8_t **buf, size_t *len)
{
    char err[512];
    *buf = isec_img_read_file(path, len, err, sizeof err);
    if (!*buf) {
        cli_err("%s", err);
        return EXIT_IOERR;
    }
    return EXIT_OK;
}

static int parse_u32(const char *s, uint32_t *v, uint32_t lo, uint32_t hi)
{
    char *end;
    errno = 0;
    unsigned long x = strtoul(s, &end, 10);
    if (errno || !*s || *end || x < lo || x > hi) return -1;
    *v = (uint32_t)x;
    return 0;
}

static int cmd_encode(int argc, char **argv)
{
    enum {
        O_LOSSLESS = 256,
        O_BPP,
        O_SEG,
        O_FLOAT,
        O_INT,
        O_LIMIT,
        O_DCSTOP,
        O_BPS,
        O_SS,
        O_FILL,
        O_HEUR,
        O_WORD,
        O_ALLH,
        O_W,
        O_H,
        O_D,
        O_SIGNED,
        O_BE,
        O_TR
    };
    static const struct option opts[] = {{"lossless", no_argument, 0, O_LOSSLESS},
                                         {"bpp", required_argument, 0, O_BPP},
                                         {"segment", required_argument, 0, O_SEG},
                                         {"float", no_argument, 0, O_FLOAT},
                                         {"integer", no_argument, 0, O_INT},
                                         {"limit", required_argument, 0, O_LIMIT},
                                         {"dc-stop", no_argument, 0, O_DCSTOP},
                                         {"bitplane-stop", required_argument, 0, O_BPS},
                                         {"stage-stop", required_argument, 0, O_SS},
                                         {"fill", no_argument, 0, O_FILL},
                                         {"heuristic", no_argument, 0, O_HEUR},
                                         {"word", required_argument, 0, O_WORD},
                                         {"all-headers", no_argument, 0, O_ALLH},
                                         {"width", required_argument, 0, O_W},
                                         {"height", required_argument, 0, O_H},
                                         {"depth", required_argument, 0, O_D},
                                         {"signed", no_argument, 0, O_SIGNED},
                                         {"be", no_argument, 0, O_BE},
                                         {"transpose", no_argument, 0, O_TR},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    isec_ccsds_params p;
    isec_ccsds_params_init(&p);
    uint32_t w = 0, h = 0, d = 0, v;
    int sgn = 0, be = 0, lossless = 0, dwt_set = 0, c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case O_LOSSLESS:
            lossless = 1;
            break;
        case O_BPP: {
            char *end;
            double r = strtod(optarg, &end);
            if (*end || !(r > 0) || r > 64) {
                cli_err("--bpp: want a rate in bits per pixel, 0 < RATE <= 64");
                return EXIT_USAGE;
            }
            p.bpp = (float)r;
            break;
        }
        case O_SEG:
            if (parse_u32(optarg, &p.segment_blocks, ISEC_CCSDS_MIN_S, ISEC_CCSDS_MAX_S)) {
                cli_err("--segment: want 16..1048576 blocks");
                return EXIT_USAGE;
            }
            break;
        case O_FLOAT:
            p.dwt = ISEC_CCSDS_DWT_FLOAT;
            dwt_set = 1;
            break;
        case O_INT:
            p.dwt = ISEC_CCSDS_DWT_INTEGER;
            dwt_set = 1;
            break;
        case O_LIMIT:
            if (parse_u32(optarg, &p.seg_byte_limit, 20, (1u << 27) - 1)) {
                cli_err("--limit: want 20..134217727 bytes");
                return EXIT_USAGE;
            }
            break;
        case O_DCSTOP:
            p.dc_stop = 1;
            break;
        case O_BPS:
            if (parse_u32(optarg, &v, 0, 31)) {
                cli_err("--bitplane-stop: want 0..31");
                return EXIT_USAGE;
            }
            p.bitplane_stop = v;
            break;
        case O_SS:
            if (parse_u32(optarg, &v, 1, 4)) {
                cli_err("--stage-stop: want 1..4");
                return EXIT_USAGE;
            }
            p.stage_stop = v - 1;
            break;
        case O_FILL:
            p.use_fill = 1;
            break;
        case O_HEUR:
            p.heuristic_dc = p.heuristic_ac = 1;
            break;
        case O_WORD:
            if (parse_u32(optarg, &v, 1, 8)) {
                cli_err("--word: want 1..8 bytes");
                return EXIT_USAGE;
            }
            p.word_bytes = v;
            break;
        case O_ALLH:
            p.headers = ISEC_CCSDS_HEADERS_ALL;
            break;
        case O_W:
        case O_H:
            if (parse_u32(optarg, &v, 1, 1u << 20)) {
                cli_err("--width/--height: want 1..1048576");
                return EXIT_USAGE;
            }
            *(c == O_W ? &w : &h) = v;
            break;
        case O_D:
            if (parse_u32(optarg, &d, 1, 16)) {
                cli_err("--depth: want 1..16");
                return EXIT_USAGE;
            }
            break;
        case O_SIGNED:
            sgn = 1;
            break;
        case O_BE:
            be = 1;
            break;
        case O_TR:
            p.transpose = 1;
            break;
        case 'h':
            usage(stdout);
            return EXIT_OK;
        default:
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (argc - optind != 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (lossless && (p.bpp > 0 || p.seg_byte_limit)) {
        cli_err("--lossless contradicts --bpp/--limit");
        return EXIT_USAGE;
    }
    if (p.bpp > 0 && !dwt_set) p.dwt = ISEC_CCSDS_DWT_FLOAT;
    if (lossless && p.dwt == ISEC_CCSDS_DWT_FLOAT) {
        cli_err("--lossless needs the integer DWT");
        return EXIT_USAGE;
    }
    if (p.seg_byte_limit % p.word_bytes) {
        cli_err("--limit must be a multiple of --word");
        return EXIT_USAGE;
    }
    const char *in = argv[optind], *outp = argv[optind + 1];
    isec_img_packed img;
    char err[256];
    if ((w || h || d) && (!w || !h || !d)) {
        cli_err("raw input needs --width, --height and --depth");
        return EXIT_USAGE;
    }
    int rc = (w || h || d) ? isec_img_read_raw_packed(in, w, h, d, sgn, be, &img, err, sizeof err)
                           : isec_img_read_packed(in, &img, err, sizeof err);
    if (rc) {
        cli_err("%s", err);
        return EXIT_FAIL;
    }
    isec_ccsds_image im;
    memset(&im, 0, sizeof im);
    im.width = img.width;
    im.height = img.height;
    im.depth = img.depth;
    im.is_signed = img.is_signed;
    im.samples = img.samples;
    im.samples_be = img.big_endian;
    isec_ccsds_enc *e;
    rc = isec_ccsds_enc_new(&e, &im, &p);
    isec_img_packed_free(&img);
    if (rc) {
        cli_err("%s: %s (width and height must be 17..1048576, depth 1..16)", in,
                isec_strerror(rc));
        return EXIT_FAIL;
    }
    cli_out o;
    if (cli_out_open(&o, outp, in, 0666) < 0) {
        isec_ccsds_enc_free(e);
        return EXIT_IOERR;
    }
    size_t cap = 0;
    uint8_t *buf = NULL;
    int status = EXIT_OK;
    while (isec_ccsds_enc_segments_left(e)) {
        size_t need = isec_ccsds_enc_segment_bound(e), len;
        if (need > cap) {
            free(buf);
            buf = malloc(need);
            cap = need;
            if (!buf) {
                cli_err("out of memory");
                status = EXIT_FAIL;
                break;
            }
        }
        rc = isec_ccsds_enc_next(e, buf, cap, &len, NULL);
        if (rc) {
            cli_err("%s: %s", in, isec_strerror(rc));
            status = EXIT_FAIL;
            break;
        }
        if (cli_out_write(&o, buf, len) < 0) {
            status = EXIT_IOERR;
            break;
        }
    }
    free(buf);
    isec_ccsds_enc_free(e);
    if (status != EXIT_OK) {
        cli_out_abort(&o);
        return status;
    }
    return cli_out_commit(&o) < 0 ? EXIT_IOERR : EXIT_OK;
}

static int cmd_decode(int argc, char **argv)
{
    static const struct option opts[] = {
        {"raw", no_argument, 0, 'r'},    {"be", no_argument, 0, 'b'},
        {"strict", no_argument, 0, 's'}, {"max-pixels", required_argument, 0, 'm'},
        {"help", no_argument, 0, 'h'},   {0, 0, 0, 0}};
    int raw = 0, be = 0, strict = 0, c;
    isec_ccsds_limits lim = {0, 0};
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'r':
            raw = 1;
            break;
        case 'b':
            be = 1;
            break;
        case 's':
            strict = 1;
            break;
        case 'm': {
            char *end;
            unsigned long long v = strtoull(optarg, &end, 10);
            if (*end || !v) {
                cli_err("--max-pixels: want a positive number");
                return EXIT_USAGE;
            }
            lim.max_pixels = v;
            break;
        }
        case 'h':
            usage(stdout);
            return EXIT_OK;
        default:
            usage(stderr);
            return EXIT_USAGE;
        }
    }
    if (argc - optind != 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *in = argv[optind], *outp = argv[optind + 1];
    uint8_t *data;
    size_t len;
    int st = read_all(in, &data, &len);
    if (st) return st;
    isec_ccsds_dec *d;
    if (isec_ccsds_dec_new(&d, &lim)) {
        free(data);
        cli_err("out of memory");
        return EXIT_FAIL;
    }
    int rc = isec_ccsds_dec_stream(d, data, len);
    free(data);
    if (rc == ISEC_ETRUNC && !strict) {
        size_t n;
        if (isec_ccsds_dec_segments(d, &n) && n)
            cli_err("%s: warning: stream ends early; image reconstructed from what arrived", in);
        else
            rc = ISEC_ETRUNC;
    }
    if (rc && !(rc == ISEC_ETRUNC && !strict &&
                isec_ccsds_dec_geometry(d, NULL, NULL, NULL, NULL) == 0)) {
        cli_err("%s: %s: %s", in, isec_strerror(rc), isec_ccsds_dec_error(d));
        isec_ccsds_dec_free(d);
        return EXIT_FAIL;
    }
    uint32_t w, h;
    unsigned depth;
    int sgn;
    isec_ccsds_dec_geometry(d, &w, &h, &depth, &sgn);
    char hdr[40];
    size_t hl = raw ? 0 : isec_img_pgm_header(hdr, w, h, depth);
    size_t n = (size_t)w * h * (depth > 8 ? 2u : 1u);
    uint8_t *ob = isec_img_big_alloc(hl + n);
    if (!ob || isec_ccsds_dec_samples(d, ob + hl, n, raw ? be : 1, !raw)) {
        cli_err("%s: cannot reconstruct the image", in);
        isec_ccsds_dec_free(d);
        free(ob);
        return EXIT_FAIL;
    }
    isec_ccsds_dec_free(d);
    memcpy(ob, hdr, hl);
    cli_out o;
    if (cli_out_open(&o, outp, in, 0666) < 0) {
        free(ob);
        return EXIT_IOERR;
    }
    if (cli_out_write(&o, ob, hl + n) < 0) {
        free(ob);
        cli_out_abort(&o);
        return EXIT_IOERR;
    }
    free(ob);
    return cli_out_commit(&o) < 0 ? EXIT_IOERR : EXIT_OK;
}

static const char *stop_name(int s)
{
    switch (s) {
    case 0:
        return "complete";
    case 1:
        return "SegByteLimit";
    case 2:
        return "quality limit";
    default:
        return "data ended";
    }
}

static int cmd_info(int argc, char **argv)
{
    if (argc != 2 || !strcmp(argv[1], "--help")) {
        usage(argc == 2 ? stdout : stderr);
        return argc == 2 ? EXIT_OK : EXIT_USAGE;
    }
    uint8_t *data;
    size_t len;
    int st = read_all(argv[1], &data, &len);
    if (st) return st;
    isec_ccsds_dec *d;
    if (isec_ccsds_dec_new(&d, NULL)) {
        free(data);
        return EXIT_FAIL;
    }
    int rc = isec_ccsds_dec_stream(d, data, len);
    free(data);
    size_t n;
    const isec_ccsds_segment *s = isec_ccsds_dec_segments(d, &n);
    uint32_t w = 0, h = 0;
    unsigned depth = 0;
    int sgn = 0;
    if (!isec_ccsds_dec_geometry(d, &w, &h, &depth, &sgn))
        printf("image: %ux%u, %u-bit %s, %s DWT, %zu segments, %zu bytes\n", w, h, depth,
               sgn ? "signed" : "unsigned", n && s[0].hdr.dwt ? "integer" : "float", n, len);
    for (size_t i = 0; i < n; i++) {
        const isec_ccsds_header *x = &s[i].hdr;
        printf("segment %zu: bytes %zu..%zu (%zu), blocks %u..%u%s\n", i, s[i].offset,
               s[i].offset + s[i].length, s[i].length, s[i].first_block,
               s[i].first_block + x->s - 1, s[i].truncated ? ", truncated" : "");
        printf(
            "  part1: StartImg=%u EndImg=%u SegmentCount=%u BitDepthDC=%u BitDepthAC=%u Part2=%u "
            "Part3=%u Part4=%u",
            x->start_img, x->end_img, x->segment_count, x->bitdepth_dc, x->bitdepth_ac, x->part2,
            x->part3, x->part4);
        if (x->end_img) printf(" PadRows=%u", x->pad_rows);
        printf("\n");
        printf("  part2%s: SegByteLimit=%u DCStop=%u BitPlaneStop=%u StageStop=%u UseFill=%u\n",
               x->part2 ? "" : " (in force)", x->seg_byte_limit, x->dc_stop, x->bitplane_stop,
               x->stage_stop, x->use_fill);
        printf("  part3%s: S=%u OptDCSelect=%u OptACSelect=%u\n", x->part3 ? "" : " (in force)",
               x->s, x->opt_dc, x->opt_ac);
        printf(
            "  part4%s: DWTtype=%u SignedPixels=%u PixelBitDepth=%u ImageWidth=%u TransposeImg=%u "
            "CodeWordLength=%u bytes CustomWtFlag=%u",
            x->part4 ? "" : " (in force)", x->dwt, x->signed_pixels, x->depth, x->width,
            x->transpose, x->word_bytes, x->custom_weights);
        if (x->custom_weights) {
            printf(" weights(log2 HH1..LL3)=");
            for (int k = 0; k < 10; k++)
                printf("%u", x->weight_exp[k]);
        }
        printf("\n  q=%u, stopped: %s\n", s[i].q, stop_name(s[i].stopped_by));
        printf("  layer 0 (header+DC+AC depths): %zu..%zu\n", s[i].offset,
               s[i].offset + s[i].dc_end);
        size_t prev = s[i].dc_end;
        for (unsigned k = 0; k < s[i].planes; k++) {
            printf("  layer %u (bit plane %u): %zu..%zu\n", k + 1, x->bitdepth_ac - 1 - k,
                   s[i].offset + prev, s[i].offset + s[i].plane_end[k]);
            prev = s[i].plane_end[k];
        }
    }
    int status = EXIT_OK;
    if (rc) {
        cli_err("%s: %s%s%s", argv[1], isec_strerror(rc), *isec_ccsds_dec_error(d) ? ": " : "",
                isec_ccsds_dec_error(d));
        status = EXIT_FAIL;
    }
    isec_ccsds_dec_free(d);
    return status;
}

int cmd_ccsds(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(stdout);
        return EXIT_OK;
    }
    if (!strcmp(argv[1], "encode")) return cmd_encode(argc - 1, argv + 1);
    if (!strcmp(argv[1], "decode")) return cmd_decode(argc - 1, argv + 1);
    if (!strcmp(argv[1], "info")) return cmd_info(argc - 1, argv + 1);
    cli_err("ccsds: unknown subcommand '%s'", argv[1]);
    usage(stderr);
    return EXIT_USAGE;
}
