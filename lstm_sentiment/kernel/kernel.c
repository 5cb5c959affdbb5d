/* The tutorial's LSTM layer over a whole minibatch, forward and backward, with
 * ADADELTA's update and the embedding's gradient, as compiled loops around BLAS
 * products (ops.py wraps each in a PyTensor Op).
 *
 * The same maths as lstm_layer (input projection, then the scan over _step):
 *   preact = h[t-1] @ U + (emb[t] @ W + b)      (gates side by side: i, f, o, c)
 *   i, f, o = sigmoid(slices 0, 1, 2); g = tanh(slice 3)
 *   c[t] = m * (f * c[t-1] + i * g) + (1 - m) * c[t-1]
 *   h[t] = m * (o * tanh(c[t]))     + (1 - m) * h[t-1]
 * with h[-1] = c[-1] = 0. Rows whose mask is exactly 0 carry h and c over
 * unchanged, which is what the formula gives, so their products are skipped;
 * the input projection and the sums over time are each one large product, and
 * the batch's rows, independent through time, are shared among threads. For
 * prediction, the sum over time of mask * h comes out directly, and a word's
 * input projection can be a row of the table Wemb @ W + b.
 *
 * build.py compiles this file at first use. It includes itself twice, to
 * define every function for float (suffix _f32) and for double (_f64).
 */
#ifndef REAL
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#ifdef LSTM_USE_MVEC
/* glibc's vector versions (libmvec, glibc >= 2.35), so that the gate loops vectorize. */
float expf(float) __attribute__((simd("notinbranch")));
float tanhf(float) __attribute__((simd("notinbranch")));
double exp(double) __attribute__((simd("notinbranch")));
double tanh(double) __attribute__((simd("notinbranch")));
#endif

enum { RowMajor = 101, NoTrans = 111, Trans = 112 };
void cblas_sgemm(int, int, int, int, int, int, float, const float *, int, const float *, int,
                 float, float *, int);
void cblas_dgemm(int, int, int, int, int, int, double, const double *, int, const double *, int,
                 double, double *, int);
int MKL_Set_Num_Threads_Local(int);
/* MKL's packed products: U packed once per pass, then reused by every step's product. */
enum { BMatrix = 162, Packed = 151, PACK_ROWS = 16 };
size_t cblas_sgemm_pack_get_size(int, int, int, int);
size_t cblas_dgemm_pack_get_size(int, int, int, int);
void cblas_sgemm_pack(int, int, int, int, int, int, float, const float *, int, float *);
void cblas_dgemm_pack(int, int, int, int, int, int, double, const double *, int, double *);
void cblas_sgemm_compute(int, int, int, int, int, int, const float *, int, const float *, int, float,
                         float *, int);
void cblas_dgemm_compute(int, int, int, int, int, int, const double *, int, const double *, int,
                         double, double *, int);

int MKL_Get_Max_Threads(void);

/* The products inside the time loop are small (batch x dim x 4 dim), too small for BLAS to
 * share among threads; the batch's rows are shared instead, each thread running the time
 * loop for its own rows with one BLAS thread. 0: as many threads as MKL would use. */
#define MAX_THREADS 64
static int max_threads = 0;
void lstm_set_threads(int n) { max_threads = n; }
static int pool_size(void) {
    int n = max_threads > 0 ? max_threads : MKL_Get_Max_Threads();
    n = n < MAX_THREADS ? n : MAX_THREADS;
    return n > 1 ? n : 1;
}
/* Threads for a batch of B rows: at least 4 rows each, or a product is mostly overhead. */
static int threads(int B) {
    int n = pool_size() < B / 4 ? pool_size() : B / 4;
    return n > 1 ? n : 1;
}

/* Whether n bytes at a and b are the same (LSTMFromIds: are the parameters unchanged?). */
int same_bytes(size_t n, const void *a, const void *b) { return memcmp(a, b, n) == 0; }

#define REAL float
#define F(name) name##_f32
#define GEMM cblas_sgemm
#define PACK_SIZE cblas_sgemm_pack_get_size
#define PACK cblas_sgemm_pack
#define COMPUTE cblas_sgemm_compute
#define EXP expf
#define TANH tanhf
#define SQRT sqrtf
#include __FILE__
#undef REAL
#undef F
#undef GEMM
#undef PACK_SIZE
#undef PACK
#undef COMPUTE
#undef EXP
#undef TANH
#undef SQRT
#define REAL double
#define F(name) name##_f64
#define GEMM cblas_dgemm
#define PACK_SIZE cblas_dgemm_pack_get_size
#define PACK cblas_dgemm_pack
#define COMPUTE cblas_dgemm_compute
#define EXP exp
#define TANH tanh
#define SQRT sqrt
#include __FILE__

#else /* the body, once per REAL */

/* out (rows, 4D) = emb (rows, D) @ W + b */
static void F(project)(int rows, int D, const REAL *emb, const REAL *W, const REAL *b, REAL *out) {
    const int G = 4 * D;
    for (int r = 0; r < rows; r++) memcpy(out + (size_t)r * G, b, sizeof(REAL) * G);
    if (rows) GEMM(RowMajor, NoTrans, NoTrans, rows, G, D, 1, emb, D, W, G, 1, out, G);
}

/* preact (n, 4D) -> the activated gates, in place: sigmoid for i, f, o and tanh for g. */
static void F(activate)(int n, int D, REAL *p) {
    for (int j = 0; j < n; j++, p += 4 * D) {
        for (int k = 0; k < 3 * D; k++) p[k] = 1 / (1 + EXP(-p[k]));
        for (int k = 3 * D; k < 4 * D; k++) p[k] = TANH(p[k]);
    }
}

/* What one thread does of a pass: the time loop for the rows `own` of the batch. */
typedef struct {
    int T, B, D, nown, status;
    const int *own;
    const long long *ids; /* with table: the word of each (t, b), whose projection is a row of table */
    const REAL *emb, *mask, *W, *b, *U, *h, *c, *gates, *dh, *table;
    REAL *hw, *cw, *gw, *dx, *pool;
} F(job);

/* The forward time loop for rows `own`: h, c and (unless gates is NULL, in which case the input
 * is projected CHUNK steps at a time, into a buffer of this thread) the activated gates, which
 * then already hold the projected input. Masked rows carry h and c and get zero gates. With
 * pool, h and c hold two steps, in turn, and pool gets the sum over t of mask * h, summed in
 * double as PyTensor sums float32. */
static void *F(forward_rows)(void *arg) {
    F(job) *a = arg;
    const int T = a->T, B = a->B, D = a->D, G = 4 * D, nown = a->nown, CHUNK = 32;
    REAL *h = a->hw, *c = a->cw, *gates = a->gw;
    REAL *pre = malloc(sizeof(REAL) * nown * G + 1), *hprev = malloc(sizeof(REAL) * nown * D + 1);
    const int chunked = !gates && !a->table;
    REAL *eb = chunked ? malloc(sizeof(REAL) * CHUNK * nown * D + 1) : NULL;
    REAL *xp = chunked ? malloc(sizeof(REAL) * CHUNK * nown * G + 1) : NULL;
    int *rows = malloc(sizeof(int) * nown + 1);
    double *acc = a->pool ? calloc((size_t)nown * D + 1, sizeof(double)) : NULL;
    /* U packed, for prediction's larger batches; for a few rows (training) it does not pay */
    REAL *Up = nown >= PACK_ROWS ? malloc(PACK_SIZE(BMatrix, nown, G, D) + 1) : NULL;
    a->status = -1;
    if (!pre || !hprev || !rows || (chunked && (!eb || !xp)) || (a->pool && !acc)) goto done;
    if (nown >= PACK_ROWS && !Up) goto done;
    const int blas_threads = MKL_Set_Num_Threads_Local(1);
    if (Up) PACK(RowMajor, BMatrix, NoTrans, nown, G, D, 1, a->U, G, Up);
    for (int t = 0; t < T; t++) {
        const REAL *m = a->mask + (size_t)t * B;
        const size_t now = a->pool ? (size_t)(t & 1) : (size_t)t, before = a->pool ? now ^ 1 : now - 1;
        const REAL *hp = t ? h + before * B * D : NULL;
        const REAL *cp = t ? c + before * B * D : NULL;
        if (chunked && t % CHUNK == 0) {
            int steps = T - t < CHUNK ? T - t : CHUNK;
            for (int s = 0; s < steps; s++)
                for (int q = 0; q < nown; q++)
                    memcpy(eb + ((size_t)s * nown + q) * D, a->emb + ((size_t)(t + s) * B + a->own[q]) * D,
                           sizeof(REAL) * D);
            F(project)(steps * nown, D, eb, a->W, a->b, xp);
        }
        int n = 0; /* the active rows, as indices q into own */
        for (int q = 0; q < nown; q++)
            if (m[a->own[q]] != 0) rows[n++] = q;
        for (int j = 0; j < n; j++) {
            const int r = a->own[rows[j]];
            const REAL *x = gates ? gates + ((size_t)t * B + r) * G
                            : a->table ? a->table + (size_t)a->ids[(size_t)t * B + r] * G
                            : xp + ((size_t)(t % CHUNK) * nown + rows[j]) * G;
            memcpy(pre + (size_t)j * G, x, sizeof(REAL) * G);
            if (hp) memcpy(hprev + (size_t)j * D, hp + (size_t)r * D, sizeof(REAL) * D);
        }
        if (hp && n && Up) COMPUTE(RowMajor, NoTrans, Packed, n, G, D, hprev, D, Up, G, 1, pre, G);
        else if (hp && n) GEMM(RowMajor, NoTrans, NoTrans, n, G, D, 1, hprev, D, a->U, G, 1, pre, G);
        F(activate)(n, D, pre);
        for (int j = 0, q = 0; q < nown; q++) {
            const int r = a->own[q];
            REAL *hb = h + (now * B + r) * D, *cb = c + (now * B + r) * D;
            const REAL *h_ = hp ? hp + (size_t)r * D : NULL, *c_ = cp ? cp + (size_t)r * D : NULL;
            if (j == n || rows[j] != q) { /* masked: carry over */
                if (hp) { memcpy(hb, h_, sizeof(REAL) * D); memcpy(cb, c_, sizeof(REAL) * D); }
                else { memset(hb, 0, sizeof(REAL) * D); memset(cb, 0, sizeof(REAL) * D); }
                if (gates) memset(gates + ((size_t)t * B + r) * G, 0, sizeof(REAL) * G);
                continue;
            }
            const REAL mb = m[r], *p = pre + (size_t)j * G;
            for (int k = 0; k < D; k++) {
                REAL cprev = c_ ? c_[k] : 0;
                cb[k] = mb * (p[D + k] * cprev + p[k] * p[3 * D + k]) + (1 - mb) * cprev;
            }
            for (int k = 0; k < D; k++) hb[k] = TANH(cb[k]);
            for (int k = 0; k < D; k++) hb[k] = mb * (p[2 * D + k] * hb[k]) + (1 - mb) * (h_ ? h_[k] : 0);
            if (gates) memcpy(gates + ((size_t)t * B + r) * G, p, sizeof(REAL) * G);
            j++;
        }
        if (acc)
            for (int q = 0; q < nown; q++) {
                const REAL mb = m[a->own[q]], *hb = h + (now * B + a->own[q]) * D;
                for (int k = 0; k < D; k++) acc[(size_t)q * D + k] += (double)(hb[k] * mb);
            }
    }
    if (acc)
        for (int q = 0; q < nown; q++)
            for (int k = 0; k < D; k++) a->pool[(size_t)a->own[q] * D + k] = (REAL)acc[(size_t)q * D + k];
    a->status = 0;
    MKL_Set_Num_Threads_Local(blas_threads);
done:
    free(pre); free(hprev); free(eb); free(xp); free(rows); free(acc); free(Up);
    return NULL;
}

/* The backward time loop for rows `own`: dcost/dpreact into dx (rows own of every step). */
static void *F(backward_rows)(void *arg) {
    F(job) *a = arg;
    const int T = a->T, B = a->B, D = a->D, G = 4 * D, nown = a->nown;
    REAL *dhc = calloc((size_t)nown * D + 1, sizeof(REAL)); /* dcost/dh[t] through steps > t */
    REAL *dcc = calloc((size_t)nown * D + 1, sizeof(REAL)); /* dcost/dc[t] through steps > t */
    REAL *dhp = malloc(sizeof(REAL) * nown * D + 1), *dpre = malloc(sizeof(REAL) * nown * G + 1);
    int *rows = malloc(sizeof(int) * nown + 1);
    a->status = -1;
    if (!dhc || !dcc || !dhp || !dpre || !rows) goto done;
    const int blas_threads = MKL_Set_Num_Threads_Local(1);
    for (int t = T - 1; t >= 0; t--) {
        const REAL *m = a->mask + (size_t)t * B;
        const REAL *cp = t ? a->c + (size_t)(t - 1) * B * D : NULL;
        int n = 0;
        for (int q = 0; q < nown; q++) {
            const int r = a->own[q];
            memset(a->dx + ((size_t)t * B + r) * G, 0, sizeof(REAL) * G);
            for (int k = 0; k < D; k++) dhc[(size_t)q * D + k] += a->dh[((size_t)t * B + r) * D + k];
            if (m[r] != 0) rows[n++] = q;
        }
        for (int j = 0; j < n; j++) {
            const int q = rows[j], r = a->own[q];
            const REAL mb = m[r], *p = a->gates + ((size_t)t * B + r) * G;
            const REAL *cb = a->c + ((size_t)t * B + r) * D, *c_ = cp ? cp + (size_t)r * D : NULL;
            REAL *dp = dpre + (size_t)j * G, *dhb = dhc + (size_t)q * D, *dcb = dcc + (size_t)q * D;
            REAL *tc = dp + 3 * D; /* tanh(c[t]), until the last line of the loop below */
            for (int k = 0; k < D; k++) tc[k] = TANH(cb[k]);
            for (int k = 0; k < D; k++) {
                const REAL i = p[k], f = p[D + k], o = p[2 * D + k], g = p[3 * D + k];
                const REAL dhn = mb * dhb[k];                            /* through o * tanh(c) */
                const REAL dct = dcb[k] + dhn * o * (1 - tc[k] * tc[k]); /* for c[t] */
                const REAL dcn = mb * dct;                               /* through f * c_ + i * g */
                dp[k] = dcn * g * i * (1 - i);
                dp[D + k] = dcn * (c_ ? c_[k] : 0) * f * (1 - f);
                dp[2 * D + k] = dhn * tc[k] * o * (1 - o);
                dp[3 * D + k] = dcn * i * (1 - g * g);
                dcb[k] = (1 - mb) * dct + dcn * f;
                dhb[k] = (1 - mb) * dhb[k];
            }
            memcpy(a->dx + ((size_t)t * B + r) * G, dp, sizeof(REAL) * G);
        }
        if (t && n) { /* dh[t-1] += dpreact @ U^T */
            GEMM(RowMajor, NoTrans, Trans, n, D, G, 1, dpre, G, a->U, G, 0, dhp, D);
            for (int j = 0; j < n; j++)
                for (int k = 0; k < D; k++) dhc[(size_t)rows[j] * D + k] += dhp[(size_t)j * D + k];
        }
    }
    a->status = 0;
    MKL_Set_Num_Threads_Local(blas_threads);
done:
    free(dhc); free(dcc); free(dhp); free(dpre); free(rows);
    return NULL;
}

/* Run `body` over the batch's rows, split into up to `threads` groups of about equal work
 * (real steps), each group in its own thread; rows are independent through time. */
static int F(parallel)(void *(*body)(void *), F(job) proto) {
    const int B = proto.B, T = proto.T;
    int nt = threads(B);
    F(job) jobs[MAX_THREADS];
    pthread_t ids[MAX_THREADS];
    int *own = malloc(sizeof(int) * B + 1), *order = malloc(sizeof(int) * B + 1);
    long *len = calloc((size_t)B + 1, sizeof(long)), load[MAX_THREADS] = {0};
    int count[MAX_THREADS] = {0}, group_of_row, status = -1;
    if (!own || !order || !len) goto done;
    for (int r = 0; r < B; r++) {
        order[r] = r;
        for (int t = 0; t < T; t++) len[r] += proto.mask[(size_t)t * B + r] != 0;
    }
    for (int i = 1; i < B; i++) /* longest first */
        for (int j = i; j > 0 && len[order[j]] > len[order[j - 1]]; j--) {
            int tmp = order[j]; order[j] = order[j - 1]; order[j - 1] = tmp;
        }
    int *group = malloc(sizeof(int) * B + 1);
    if (!group) goto done;
    for (int i = 0; i < B; i++) { /* each row to the least loaded group */
        group_of_row = 0;
        for (int g = 1; g < nt; g++) if (load[g] < load[group_of_row]) group_of_row = g;
        group[order[i]] = group_of_row;
        load[group_of_row] += len[order[i]] + 1;
        count[group_of_row]++;
    }
    for (int g = 0, start = 0; g < nt; g++) {
        jobs[g] = proto;
        jobs[g].own = own + start;
        jobs[g].nown = 0;
        for (int r = 0; r < B; r++) if (group[r] == g) own[start + jobs[g].nown++] = r;
        start += count[g];
    }
    free(group);
    status = 0;
    int started = 0;
    for (int g = 1; g < nt; g++, started++)
        if (pthread_create(&ids[g], NULL, body, &jobs[g])) break;
    body(&jobs[0]);
    for (int g = 1; g <= started; g++) pthread_join(ids[g], NULL);
    if (started < nt - 1) /* a thread could not start: do its part here */
        for (int g = started + 1; g < nt; g++) body(&jobs[g]);
    for (int g = 0; g < nt; g++) status |= jobs[g].status;
done:
    free(own); free(order); free(len);
    return status;
}

/* emb (T,B,D), mask (T,B), W and U (D,4D), b (4D) -> h and c (T,B,D) and, unless gates is
 * NULL, the activated gates (T,B,4D) for the backward pass (0 on masked rows). Without gates,
 * the input projection is made a few steps at a time, which bounds the memory it takes.
 * With pool (B,D) instead of h, c and gates: only the sum over t of mask * h. */
int F(lstm_forward)(int T, int B, int D, const REAL *emb, const REAL *mask, const REAL *W,
                    const REAL *b, const REAL *U, REAL *h, REAL *c, REAL *gates, REAL *pool) {
    REAL *ring = pool ? malloc(sizeof(REAL) * 4 * B * D + 1) : NULL;
    if (pool && !ring) return -1;
    if (gates) F(project)(T * B, D, emb, W, b, gates);
    F(job) proto = {.T = T, .B = B, .D = D, .emb = emb, .mask = mask, .W = W, .b = b, .U = U,
                    .hw = pool ? ring : h, .cw = pool ? ring + 2 * B * D : c, .gw = gates, .pool = pool};
    int status = F(parallel)(F(forward_rows), proto);
    free(ring);
    return status;
}

/* The input projection of every word: table (n, 4D) = Wemb (n, D) @ W + b. */
void F(lstm_table)(int n, int D, const REAL *Wemb, const REAL *W, const REAL *b, REAL *table) {
    F(project)(n, D, Wemb, W, b, table);
}

/* lstm_forward's pooled output, for the reviews ids (T,B), each id a row of table (ids checked
 * by the caller): the projection of a word is looked up instead of computed. */
int F(lstm_pooled_ids)(int T, int B, int D, const REAL *table, const long long *ids,
                       const REAL *mask, const REAL *U, REAL *pool) {
    REAL *ring = malloc(sizeof(REAL) * 4 * B * D + 1);
    if (!ring) return -1;
    F(job) proto = {.T = T, .B = B, .D = D, .ids = ids, .table = table, .mask = mask, .U = U,
                    .hw = ring, .cw = ring + 2 * B * D, .pool = pool};
    int status = F(parallel)(F(forward_rows), proto);
    free(ring);
    return status;
}

/* Given dh (T,B,D), the gradient of the cost for every h[t], and the forward pass's inputs,
 * h, c and gates: the gradients for emb (T,B,D), W and U (D,4D) and b (4D). */
int F(lstm_backward)(int T, int B, int D, const REAL *emb, const REAL *mask, const REAL *W,
                     const REAL *U, const REAL *h, const REAL *c, const REAL *gates,
                     const REAL *dh, REAL *demb, REAL *dW, REAL *db, REAL *dU) {
    const int G = 4 * D, R = T * B;
    REAL *dx = malloc(sizeof(REAL) * ((size_t)R * G + 1)); /* dcost/dpreact, all steps */
    if (!dx) return -1;
    F(job) proto = {.T = T, .B = B, .D = D, .mask = mask, .U = U, .c = c, .gates = gates, .dh = dh,
                    .dx = dx};
    if (F(parallel)(F(backward_rows), proto)) { free(dx); return -1; }
    /* dU = sum over t of h[t-1]^T @ dpreact[t]; dW = emb^T @ dpreact; demb = dpreact @ W^T */
    if (T > 1) GEMM(RowMajor, Trans, NoTrans, D, G, R - B, 1, h, D, dx + (size_t)B * G, G, 0, dU, G);
    else memset(dU, 0, sizeof(REAL) * D * G);
    if (R) {
        GEMM(RowMajor, Trans, NoTrans, D, G, R, 1, emb, D, dx, G, 0, dW, G);
        GEMM(RowMajor, NoTrans, Trans, R, D, G, 1, dx, G, W, G, 0, demb, D);
    } else {
        memset(dW, 0, sizeof(REAL) * D * G);
    }
    memset(db, 0, sizeof(REAL) * G);
    for (int r = 0; r < R; r++)
        for (int k = 0; k < G; k++) db[k] += dx[(size_t)r * G + k];
    free(dx);
    return 0;
}

/* out (n, D) = zeros with y's rows (K, D) added at rows idx: the gradient of an embedding
 * lookup. Negative indices count from the end, as in NumPy; returns -1 if one is out of range. */
int F(scatter_add)(long long n, int D, long long K, const REAL *y, const long long *idx, REAL *out) {
    memset(out, 0, sizeof(REAL) * n * D);
    for (long long k = 0; k < K; k++) {
        long long i = idx[k] < 0 ? idx[k] + n : idx[k];
        if (i < 0 || i >= n) return -1;
        REAL *o = out + i * D;
        const REAL *v = y + k * D;
        for (int d = 0; d < D; d++) o[d] += v[d];
    }
    return 0;
}

/* An optimizer's step over values [begin, end) of a parameter p, in place: g its gradient,
 * s1 and s2 its two running averages, a and c the step's scalars. */
typedef struct { long begin, end; REAL *p, *s1, *s2; const REAL *g; REAL a, c; } F(step);

/* One ADADELTA step, as optimizers.adadelta's graph does (s1 = ru2, s2 = rg2):
 *   rg2 = 0.95 rg2 + 0.05 g^2;  ud = -sqrt(ru2 + 1e-6) / sqrt(rg2 + 1e-6) * g
 *   ru2 = 0.95 ru2 + 0.05 ud^2; p = p + ud */
static void *F(adadelta_part)(void *arg) {
    const F(step) *a = arg;
    const REAL rho = (REAL)0.95, one_rho = (REAL)0.05, eps = (REAL)1e-6;
    REAL *p = a->p, *ru2 = a->s1, *rg2 = a->s2;
    const REAL *g = a->g;
    for (long k = a->begin; k < a->end; k++) {
        REAL r = rho * rg2[k] + one_rho * (g[k] * g[k]);
        REAL ud = -SQRT(ru2[k] + eps) / SQRT(r + eps) * g[k];
        rg2[k] = r;
        ru2[k] = rho * ru2[k] + one_rho * (ud * ud);
        p[k] = p[k] + ud;
    }
    return NULL;
}

/* One Adam step, as optimizers.adam's graph does (s1 = m, s2 = v; a = lr / (1 - 0.9^t),
 * c = 1 / sqrt(1 - 0.999^t)):
 *   m = 0.9 m + 0.1 g;  v = 0.999 v + 0.001 g^2;  p = p - a * m / (sqrt(v) * c + 1e-8) */
static void *F(adam_part)(void *arg) {
    const F(step) *a = arg;
    const REAL b1 = (REAL)0.9, one_b1 = (REAL)0.1, b2 = (REAL)0.999, one_b2 = (REAL)0.001, eps = (REAL)1e-8;
    REAL *p = a->p, *m = a->s1, *v = a->s2;
    const REAL *g = a->g;
    for (long k = a->begin; k < a->end; k++) {
        REAL mk = b1 * m[k] + one_b1 * g[k];
        REAL vk = b2 * v[k] + one_b2 * (g[k] * g[k]);
        m[k] = mk;
        v[k] = vk;
        p[k] = p[k] - a->a * mk / (SQRT(vk) * a->c + eps);
    }
    return NULL;
}

/* `part` over all of `whole`; large arrays (the embedding) are shared among the threads. */
static void F(in_parts)(void *(*part)(void *), F(step) whole) {
    long n = whole.end;
    int nt = n < (1L << 16) ? 1 : pool_size();
    F(step) parts[MAX_THREADS];
    pthread_t ids[MAX_THREADS];
    int started[MAX_THREADS] = {0};
    for (int i = 0; i < nt; i++) {
        parts[i] = whole;
        parts[i].begin = n * i / nt;
        parts[i].end = n * (i + 1) / nt;
    }
    for (int i = 1; i < nt; i++) started[i] = !pthread_create(&ids[i], NULL, part, &parts[i]);
    part(&parts[0]);
    for (int i = 1; i < nt; i++) {
        if (started[i]) pthread_join(ids[i], NULL);
        else part(&parts[i]);
    }
}

void F(adadelta)(long n, REAL *p, const REAL *g, REAL *ru2, REAL *rg2) {
    F(in_parts)(F(adadelta_part), (F(step)){0, n, p, ru2, rg2, g, 0, 0});
}

void F(adam)(long n, REAL *p, const REAL *g, REAL *m, REAL *v, double a, double c) {
    F(in_parts)(F(adam_part), (F(step)){0, n, p, m, v, g, (REAL)a, (REAL)c});
}

#endif
