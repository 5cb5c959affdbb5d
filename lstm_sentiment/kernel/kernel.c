/* The tutorial's LSTM layer over a whole minibatch, forward and backward, with
 * ADADELTA's update and the embedding's gradient, as compiled loops around
 * matrix products of its own (ops.py wraps each in a PyTensor Op).
 *
 * The same maths as lstm_layer (input projection, then the scan over _step):
 *   preact = h[t-1] @ U + (emb[t] @ W + b)      (gates side by side: i, f, o, c)
 *   i, f, o = sigmoid(slices 0, 1, 2); g = tanh(slice 3)
 *   c[t] = m * (f * c[t-1] + i * g) + (1 - m) * c[t-1]
 *   h[t] = m * (o * tanh(c[t]))     + (1 - m) * h[t-1]
 * with h[-1] = c[-1] = 0. Rows whose mask is exactly 0 carry h and c over
 * unchanged, which is what the formula gives, so their products are skipped.
 * The batch's rows, independent through time, are shared among threads by
 * their work; each thread makes every product of its rows itself. The input
 * projection and the weights' gradients are products over a chunk of 32 steps
 * of a thread's rows at a time, while they are in its cache, and over the
 * chunk's real (step, row) pairs only: a masked pair's terms are 0. Every
 * product is this file's own loop (panel_product, panel_update), written once
 * with the compiler's vector extensions for three widths: AVX-512 (64 bytes),
 * AVX2 with FMA (32) and 16 bytes, the portable path (SSE2 on any x86-64,
 * NEON on aarch64); no BLAS is linked. Mean pooling's sum over time of
 * mask * h, and its gradient, are computed as the steps go. A word's input
 * projection can be a row of a table of Wemb @ W + b: of every word for
 * prediction, of the batch's distinct words in training, whose backward pass
 * then makes the embedding's and W's gradients per word too (lstm_*_words).
 *
 * build.py compiles this file at first use. It includes itself twice, to
 * define every function for float (suffix _f32) and for double (_f64).
 */
#ifndef REAL
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT; clock_gettime */
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifdef LSTM_USE_MVEC
/* glibc's vector versions (libmvec, x86-64 glibc >= 2.35), so that the gate loops vectorize; elsewhere
 * the kernel's own (exp_own, tanh_own). */
float expf(float) __attribute__((simd("notinbranch")));
float tanhf(float) __attribute__((simd("notinbranch")));
double exp(double) __attribute__((simd("notinbranch")));
double tanh(double) __attribute__((simd("notinbranch")));
#endif

/* The path: the vectors' bytes, and the rows of a product's block, by the registers the CPU has (32
 * vector registers with AVX-512 and on aarch64, else 16): at most ROWS2 rows by 2 panels of one vector
 * each, or ROWS4 rows by 4 (0: never 4). The build names the path by the flags it gives the compiler
 * (LSTM_SENTIMENT_KERNEL). */
#if defined(__AVX512F__)
#define PATH "avx512"
#define VBYTES 64
#elif defined(__AVX2__) && defined(__FMA__)
#define PATH "avx2"
#define VBYTES 32
#else
#define PATH "portable"
#define VBYTES 16
#endif
#if defined(__AVX512F__) || defined(__aarch64__)
#define ROWS2 12
#define ROWS4 6
#else
#define ROWS2 6
#define ROWS4 0
#endif

/* Where no instruction loads a value into every lane (x86 before AVX: SSE's broadcast is a load and a
 * shuffle), a block's A is broadcast beforehand, once per block instead of once per panel. */
#if (defined(__x86_64__) || defined(__i386__)) && !defined(__AVX__)
#define BROADCAST_A 1
#else
#define BROADCAST_A 0
#endif

/* A vector kept in a register for the FMAs that use it: left to itself, the compiler folds the load
 * into each FMA when a block has few rows, and the loads, not the FMAs, then bound the loop (a step of
 * 2 to 4 rows ran at 40% of the rate of 5 or more). */
#if defined(__x86_64__) || defined(__i386__)
#define IN_REGISTER(v) __asm__("" : "+v"(v))
#elif defined(__aarch64__)
#define IN_REGISTER(v) __asm__("" : "+w"(v))
#else
#define IN_REGISTER(v) (void)0
#endif

/* The path this library was compiled for (the tests and the benchmark ask). */
const char *lstm_path(void) { return PATH; }

/* The products inside the time loop are small (batch x dim x 4 dim), too small to share among
 * threads; the batch's rows are shared instead, each thread running the time loop for its own
 * rows. 0: OMP_NUM_THREADS where it is set, else the cores this process may use. */
#define MAX_THREADS 64
static int max_threads = 0;
void lstm_set_threads(int n) { max_threads = n; }

static int default_threads(void) {
    const char *env = getenv("OMP_NUM_THREADS");
    char *end;
    const long n = env ? strtol(env, &end, 10) : 0;
    if (env && end != env && n > 0) return n < MAX_THREADS ? (int)n : MAX_THREADS;
#ifdef __linux__
    cpu_set_t cpus;
    if (!sched_getaffinity(0, sizeof cpus, &cpus)) return CPU_COUNT(&cpus);
#endif
    const long online = sysconf(_SC_NPROCESSORS_ONLN);
    return online > 0 ? (int)online : 1;
}

static int pool_size(void) {
    static int cores = 0; /* default_threads(), read once (threads that race read the same value) */
    if (!__atomic_load_n(&cores, __ATOMIC_RELAXED)) __atomic_store_n(&cores, default_threads(), __ATOMIC_RELAXED);
    int n = max_threads > 0 ? max_threads : __atomic_load_n(&cores, __ATOMIC_RELAXED);
    n = n < MAX_THREADS ? n : MAX_THREADS;
    return n > 1 ? n : 1;
}

/* The threads a pass may use: lstm_set_threads's number, else the default (the tests ask). */
int lstm_threads(void) { return pool_size(); }
/* Steps whose input projection, or weights' gradients, a thread computes in one product. */
enum { CHUNK = 32 };
/* Steps of k that a product's block takes at a time (KB rows of the right-hand side stay in the cache). */
enum { KB = 128 };
/* Words whose input projection, or gradients, a thread computes in one product (training by words). */
enum { WORDS = 64 };
/* How many pairs ahead the words' gradient sums fetch a pair's dpreact. */
enum { AHEAD = 4 };
/* A real (step, row) pair costs the time loop about as much as PADDED padded ones, which it carries
 * over (h and c copied, the gates zeroed): the rows' split among threads weighs them so. */
enum { PADDED = 8 };

/* Threads for a batch of B rows: at least 4 rows each, or a product is mostly overhead. */
static int threads(int B) {
    int n = pool_size() < B / 4 ? pool_size() : B / 4;
    return n > 1 ? n : 1;
}

/* The crew: worker threads started at first use and kept, worker i running job i of each pass
 * (job 0 runs in the caller's thread). A thread started for each pass could begin milliseconds
 * late: on a virtual machine the host deschedules an idle vCPU. So a worker that has finished
 * waits for the next pass spinning for SPIN_NS, which covers the gaps between an update's passes,
 * before it sleeps. One pass at a time uses the crew; a concurrent one starts threads of its own. */
enum { SPIN_NS = 5000000 };
static pthread_mutex_t crew_busy = PTHREAD_MUTEX_INITIALIZER, crew_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t crew_wake = PTHREAD_COND_INITIALIZER;
static int crew_size, crew_forks_handled; /* workers started; whether a fork's child resets the crew */
static unsigned long crew_born[MAX_THREADS]; /* the pass before worker i's first */
static unsigned long crew_pass;          /* incremented, with release, when a pass is posted */
static int crew_left;                    /* the workers' jobs of the current pass not yet done */
static struct { void *(*body)(void *); char *jobs; size_t size; int n; } crew_work;

static long long monotonic_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static void *crew_worker(void *arg) {
    const int i = (int)(intptr_t)arg;
    unsigned long seen = crew_born[i];
    for (;;) {
        const long long until = monotonic_ns() + SPIN_NS;
        for (int k = 1; __atomic_load_n(&crew_pass, __ATOMIC_ACQUIRE) == seen; k++) {
            if (k % 64 || monotonic_ns() < until) { sched_yield(); continue; }
            pthread_mutex_lock(&crew_lock);
            while (__atomic_load_n(&crew_pass, __ATOMIC_ACQUIRE) == seen) pthread_cond_wait(&crew_wake, &crew_lock);
            pthread_mutex_unlock(&crew_lock);
        }
        seen = __atomic_load_n(&crew_pass, __ATOMIC_ACQUIRE);
        if (i < crew_work.n) {
            crew_work.body(crew_work.jobs + i * crew_work.size);
            __atomic_fetch_sub(&crew_left, 1, __ATOMIC_RELEASE);
        }
    }
    return NULL;
}

/* In a fork's child only the forking thread exists: the child starts a crew of its own. */
static void crew_forget(void) {
    crew_size = 0;
    pthread_mutex_init(&crew_busy, NULL);
    pthread_mutex_init(&crew_lock, NULL);
    pthread_cond_init(&crew_wake, NULL);
}

/* Whether the crew has n - 1 workers (started now if needed); called holding crew_busy. */
static int crew_ready(int n) {
    if (!crew_forks_handled) crew_forks_handled = !pthread_atfork(NULL, NULL, crew_forget);
    if (!crew_forks_handled) return 0;
    for (pthread_t id; crew_size < n - 1; crew_size++) {
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        crew_born[crew_size + 1] = crew_pass;
        const int failed = pthread_create(&id, &attr, crew_worker, (void *)(intptr_t)(crew_size + 1));
        pthread_attr_destroy(&attr);
        if (failed) return 0;
    }
    return 1;
}

/* Run body on each of the n jobs of `size` bytes at `jobs`: job 0 in this thread, the others by
 * the crew, or, when it is busy or cannot start, each in a thread of its own; a job whose thread
 * cannot start runs here, after the others. */
static void run_jobs(void *(*body)(void *), void *jobs, int n, size_t size) {
    if (n > 1 && !pthread_mutex_trylock(&crew_busy)) {
        if (crew_ready(n)) {
            crew_work.body = body, crew_work.jobs = jobs, crew_work.size = size, crew_work.n = n;
            __atomic_store_n(&crew_left, n - 1, __ATOMIC_RELAXED);
            __atomic_fetch_add(&crew_pass, 1, __ATOMIC_RELEASE);
            pthread_mutex_lock(&crew_lock);
            pthread_cond_broadcast(&crew_wake);
            pthread_mutex_unlock(&crew_lock);
            body(jobs);
            while (__atomic_load_n(&crew_left, __ATOMIC_ACQUIRE)) sched_yield();
            pthread_mutex_unlock(&crew_busy);
            return;
        }
        pthread_mutex_unlock(&crew_busy);
    }
    pthread_t ids[MAX_THREADS];
    int started[MAX_THREADS] = {0};
    for (int i = 1; i < n; i++) started[i] = !pthread_create(&ids[i], NULL, body, (char *)jobs + i * size);
    body(jobs);
    for (int i = 1; i < n; i++) {
        if (started[i]) pthread_join(ids[i], NULL);
        else body((char *)jobs + i * size);
    }
}


/* Ask for the n bytes at p, a row needed soon, to be brought into the cache (a prefetch never faults):
 * rows read in an order that the hardware cannot foresee, the word table's or dpreact's by word. */
static inline void fetch(const void *p, size_t n) {
    for (size_t o = 0; o < n; o += 64) __builtin_prefetch((const char *)p + o);
}

/* Whether n bytes at a and b are the same (LSTMFromIds: are the parameters unchanged?). */
int same_bytes(size_t n, const void *a, const void *b) { return memcmp(a, b, n) == 0; }

/* Threads for the table rows of nw words: one per WORDS of them, at most the pool. */
static int word_threads(int nw) { return pool_size() < nw / WORDS + 1 ? pool_size() : nw / WORDS + 1; }

/* The first of words 0 .. nw whose work before it, the pairs of the words before it (start) plus
 * per_word per word, reaches `work`. */
static int word_at(const long long *start, long long per_word, int nw, long long work) {
    int lo = 0, hi = nw;
    while (lo < hi) {
        const int mid = lo + (hi - lo) / 2;
        if (start[mid] + per_word * mid < work) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

/* A row of a batch, its real pairs and its work: the rows are shared among the threads by work. */
typedef struct { long long work, real; int row; } row_work;

/* The heavier first; of equal ones, the lower row first. */
static int heavier_first(const void *x, const void *y) {
    const row_work *a = x, *b = y;
    return a->work != b->work ? (a->work < b->work ? 1 : -1) : a->row - b->row;
}

/* Whether each of the K ids is a row of a table of n rows: in [-n, n), NumPy's bounds. */
static int ids_in_range(long long n, long long K, const long long *ids) {
    for (long long k = 0; k < K; k++)
        if (ids[k] < -n || ids[k] >= n) return 0;
    return 1;
}

/* The row of a table of n rows that an id in range names: a negative one counts from the end. */
static inline long long row_of(long long id, long long n) { return id < 0 ? id + n : id; }

/* The distinct words of the K ids, rows of an embedding of n rows (negative ids counting from its
 * end, as NumPy indexes), in increasing order into words, and where[k] the index of ids[k] among
 * them: numpy.unique's, by marking the words present in an array of n. Returns how many there are,
 * or -1, having written nothing, if an id is out of [-n, n); -2 if the marks cannot be allocated. */
long long distinct_words(long long n, long long K, const long long *ids, long long *words, long long *where) {
    if (!ids_in_range(n, K, ids)) return -1;
    long long *mark = calloc((size_t)n + 1, sizeof(long long)), nw = 0;
    if (!mark) return -2;
    for (long long k = 0; k < K; k++) mark[row_of(ids[k], n)] = 1;
    for (long long i = 0; i < n; i++)
        if (mark[i]) { words[nw] = i; mark[i] = nw++; }
    for (long long k = 0; k < K; k++) where[k] = mark[row_of(ids[k], n)];
    free(mark);
    return nw;
}

#define REAL float
#define IS_DOUBLE 0
#define F(name) name##_f32
#define EXP expf
#define TANH tanhf
#define SQRT sqrtf
#include __FILE__
#undef REAL
#undef IS_DOUBLE
#undef F
#undef EXP
#undef TANH
#undef SQRT
#undef LANES
#define REAL double
#define IS_DOUBLE 1
#define F(name) name##_f64
#define EXP exp
#define TANH tanh
#define SQRT sqrt
#include __FILE__

#else /* the body, once per REAL */

/* The products: a vector of LANES values, and a panel, LANES columns of a right-hand side packed
 * row after row. */
typedef REAL F(vec) __attribute__((vector_size(VBYTES)));
#define LANES ((int)(VBYTES / sizeof(REAL)))

/* The LANES values at p as a vector (one unaligned load), and v stored at p. */
static inline __attribute__((always_inline)) F(vec) F(load)(const REAL *p) {
    F(vec) v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline __attribute__((always_inline)) void F(store)(REAL *p, F(vec) v) { memcpy(p, &v, sizeof v); }

/* C (R rows, W panels) = S + A (R, K) @ B (K, W panels), R and W known when inlined: A's element
 * (r, k) at A[r * ar + k * ak], panel w's row k at B + w * bw + k * bk, row r of S at S[r] + s (S
 * NULL: C itself, rows ldc apart). Each element's sum is FMAs in the order of k, from S's value: a
 * row's result depends neither on its neighbours nor on the blocking, so any number of threads gives
 * the same bits. */
static inline __attribute__((always_inline)) void F(block)(int R, int W, int K, const REAL *A, size_t ar,
                                                           size_t ak, const REAL *B, size_t bw, size_t bk,
                                                           const REAL *const *S, int s, REAL *C, int ldc) {
    F(vec) c[ROWS2][4];
    for (int r = 0; r < R; r++)
        for (int w = 0; w < W; w++)
            c[r][w] = F(load)(S ? S[r] + s + w * LANES : C + (size_t)r * ldc + w * LANES);
    for (int k = 0; k < K; k++) {
        F(vec) b[4];
        for (int w = 0; w < W; w++) {
            b[w] = F(load)(B + w * bw + k * bk);
            IN_REGISTER(b[w]);
        }
        for (int r = 0; r < R; r++) {
#if BROADCAST_A
            F(vec) a; /* A broadcast beforehand: element (r, k) is the vector at A + (r * ar + k * ak) * LANES */
            memcpy(&a, A + (r * ar + k * ak) * LANES, sizeof a);
#else
            const REAL a = A[r * ar + k * ak];
#endif
            for (int w = 0; w < W; w++) c[r][w] += a * b[w];
        }
    }
    for (int r = 0; r < R; r++)
        for (int w = 0; w < W; w++) F(store)(C + (size_t)r * ldc + w * LANES, c[r][w]);
}

/* block for R rows (1 to ROWS2, a variable) and W panels: one inlined copy per value of R. */
#if ROWS2 > 6
#define WIDE_ROWS(W, ...)                                                                                  \
    case 7: F(block)(7, W, __VA_ARGS__); break;                                                            \
    case 8: F(block)(8, W, __VA_ARGS__); break;                                                            \
    case 9: F(block)(9, W, __VA_ARGS__); break;                                                            \
    case 10: F(block)(10, W, __VA_ARGS__); break;                                                          \
    case 11: F(block)(11, W, __VA_ARGS__); break;                                                          \
    case 12: F(block)(12, W, __VA_ARGS__); break;
#else
#define WIDE_ROWS(W, ...)
#endif
#define BLOCKS(W, ...)                                                                                     \
    switch (R) {                                                                                           \
    case 1: F(block)(1, W, __VA_ARGS__); break;                                                            \
    case 2: F(block)(2, W, __VA_ARGS__); break;                                                            \
    case 3: F(block)(3, W, __VA_ARGS__); break;                                                            \
    case 4: F(block)(4, W, __VA_ARGS__); break;                                                            \
    case 5: F(block)(5, W, __VA_ARGS__); break;                                                            \
    case 6: F(block)(6, W, __VA_ARGS__); break;                                                            \
    WIDE_ROWS(W, __VA_ARGS__)                                                                              \
    }

/* A's R x K block, element (r, k) at A[r * ar + k * ak], as vectors of that value each, at out. */
static inline void F(broadcast)(int R, int K, const REAL *A, size_t ar, size_t ak, REAL *restrict out) {
    for (int r = 0; r < R; r++)
        for (int k = 0; k < K; k++, out += LANES)
            for (int l = 0; l < LANES; l++) out[l] = A[r * ar + k * ak];
}

/* block (R rows, 1 panel) for the first `cols` (< LANES) columns of the last panel, through whole
 * vectors of a scratch block: the loop itself never reads or writes past a row. */
static void F(part_block)(int R, int K, const REAL *A, size_t ar, const REAL *P, const REAL *const *S, int s,
                          REAL *C, int ldc, int cols) {
    REAL scratch[ROWS2 * LANES] = {0};
    for (int r = 0; r < R; r++)
        for (int j = 0; j < cols; j++) scratch[r * LANES + j] = S ? S[r][s + j] : C[(size_t)r * ldc + j];
    BLOCKS(1, K, A, ar, 1, P, 0, LANES, NULL, 0, scratch, LANES)
    for (int r = 0; r < R; r++)
        for (int j = 0; j < cols; j++) C[(size_t)r * ldc + j] = scratch[r * LANES + j];
}

/* C (n, N) = S + A (n, K) @ B, with B packed into panels by right_prepare, row j of S at S[j] (S NULL:
 * C += A @ B). The rows go in blocks of nearly equal size, at most ROWS2; blocks of ROWS4 rows or
 * fewer take 4 panels at a time, others 2 (up to 24 accumulators of 32 registers, or 12 of 16). Every
 * block takes its terms from a panel while it is in the cache; or, where A must be broadcast, a block
 * at a time takes them from every panel, KB steps of k at a time, its broadcast A in the cache. */
static void F(panel_product)(int n, int K, int N, const REAL *A, const REAL *P, const REAL *const *S, REAL *C) {
    const int blocks = (n + ROWS2 - 1) / ROWS2, wide = n <= ROWS4 ? 4 : 2, group = BROADCAST_A ? 1 : blocks;
    const int step = BROADCAST_A ? KB : K > 0 ? K : 1; /* steps of k at a time: all, or those broadcast */
    for (int first = 0; first < blocks; first += group)
        for (int k = 0; k < K; k += step) {
            const int kb = K - k < step ? K - k : step;
#if BROADCAST_A
            const int r = n * first / blocks, R = n * (first + 1) / blocks - r;
            REAL broadcast[ROWS2 * KB * LANES];
            F(broadcast)(R, kb, A + (size_t)r * K + k, K, 1, broadcast);
#endif
            for (int j = 0, W; j < N; j += W * LANES) {
                const int panels = (N - j) / LANES; /* whole ones left: 0 for the part-panel, if any */
                W = panels >= wide ? wide : panels >= 2 ? 2 : 1;
                const REAL *p = P + (size_t)j * K + (size_t)k * LANES; /* panel j / LANES, from its row k */
                for (int i = first; i < first + group; i++) {
                    const int r = n * i / blocks, R = n * (i + 1) / blocks - r;
#if BROADCAST_A
                    const REAL *a = broadcast;
                    const size_t ar = kb;
#else
                    const REAL *a = A + (size_t)r * K + k;
                    const size_t ar = K;
#endif
                    const REAL *const *s = S && !k ? S + r : NULL; /* after the first steps, C holds the sums */
                    REAL *c = C + (size_t)r * N + j;
                    if (!panels) F(part_block)(R, kb, a, ar, p, s, j, c, N, N - j);
                    else if (W == 4) { BLOCKS(4, kb, a, ar, 1, p, (size_t)K * LANES, LANES, s, j, c, N) }
                    else if (W == 2) { BLOCKS(2, kb, a, ar, 1, p, (size_t)K * LANES, LANES, s, j, c, N) }
                    else { BLOCKS(1, kb, a, ar, 1, p, (size_t)K * LANES, LANES, s, j, c, N) }
                }
            }
        }
}

/* C (M, N) += A^T @ B for A (n, M) and B (n, N), rows lda and ldb apart (C's N apart): the weights'
 * gradients, summed over n (step, row) pairs or words. Each element's sum runs in the order of the n
 * rows, from C's value; no packing, since B's rows are read as they lie, KB at a time, which stay in
 * the cache while every block of C's rows takes their terms. Columns past the last whole vector, in
 * a row of B, are summed one by one (a vector would read past the row). */
static void F(panel_update)(int n, int M, int N, const REAL *A, int lda, const REAL *B, int ldb, REAL *C) {
    const int blocks = (M + ROWS2 - 1) / ROWS2, whole = N - N % LANES, group = BROADCAST_A ? 1 : blocks;
    for (int k = 0; k < n; k += KB, A += (size_t)KB * lda, B += (size_t)KB * ldb) {
        const int K = n - k < KB ? n - k : KB;
        for (int first = 0; first < blocks; first += group) {
#if BROADCAST_A
            const int r = M * first / blocks, R = M * (first + 1) / blocks - r;
            REAL broadcast[ROWS2 * KB * LANES];
            F(broadcast)(R, K, A + r, 1, lda, broadcast);
#endif
            for (int j = 0; j < whole; j += 2 * LANES)
                for (int i = first; i < first + group; i++) {
                    const int r = M * i / blocks, R = M * (i + 1) / blocks - r;
#if BROADCAST_A
                    const REAL *a = broadcast;
                    const size_t ar = K, ak = 1;
#else
                    const REAL *a = A + r;
                    const size_t ar = 1, ak = lda;
#endif
                    REAL *c = C + (size_t)r * N + j;
                    if (whole - j >= 2 * LANES) { BLOCKS(2, K, a, ar, ak, B + j, LANES, ldb, NULL, 0, c, N) }
                    else { BLOCKS(1, K, a, ar, ak, B + j, LANES, ldb, NULL, 0, c, N) }
                }
        }
        for (int r = 0; r < M; r++)
            for (int j = whole; j < N; j++) {
                REAL sum = C[(size_t)r * N + j];
                for (int q = 0; q < K; q++) sum += A[(size_t)q * lda + r] * B[(size_t)q * ldb + j];
                C[(size_t)r * N + j] = sum;
            }
    }
}
#undef BLOCKS
#undef WIDE_ROWS

/* U as the right-hand side of a thread's step products, C (n, N) += A (n, K) @ U (trans 0: U is
 * (K, N)) or @ U^T (trans 1: U is (N, K)): packed once per pass into panels of (K, LANES), the last
 * one padded with zeros. */
typedef struct { REAL *panels; int K, N; } F(right);

static int F(right_prepare)(F(right) *r, const REAL *U, int K, int N, int trans) {
    const int panels = (N + LANES - 1) / LANES;
    *r = (F(right)){.K = K, .N = N, .panels = calloc((size_t)panels * K * LANES + 1, sizeof(REAL))};
    if (!r->panels) return -1;
    REAL *P = r->panels;
    for (int p = 0; p < panels; p++)
        for (int k = 0; k < K; k++, P += LANES)
            for (int j = 0; j < LANES && p * LANES + j < N; j++) {
                const size_t col = (size_t)p * LANES + j;
                P[j] = trans ? U[col * K + k] : U[(size_t)k * N + col];
            }
    return 0;
}

static void F(right_free)(F(right) *r) { free(r->panels); }

/* C (n, N) = S + A @ U (or U^T), row j of S at S[j]; with S NULL, C += A @ U. */
static void F(step_product)(const F(right) *r, int n, const REAL *A, const REAL *const *S, REAL *C) {
    if (n) F(panel_product)(n, r->K, r->N, A, r->panels, S, C);
}

/* out (rows, 4D) = emb (rows, D) @ W + b, W prepared by right_prepare: the input projection. */
static void F(project)(const F(right) *W, int rows, const REAL *emb, const REAL *b, REAL *out) {
    for (int r = 0; r < rows; r++) memcpy(out + (size_t)r * W->N, b, sizeof(REAL) * W->N);
    F(step_product)(W, rows, emb, NULL, out);
}

/* C (M, N) += A^T @ B for A (n, M) and B (n, N), rows lda and ldb apart: the weights' gradients. */
static void F(update)(int n, int M, int N, const REAL *A, int lda, const REAL *B, int ldb, REAL *C) {
    F(panel_update)(n, M, N, A, lda, B, ldb, C);
}

/* The gates' exponentials and tanh. With glibc's libmvec (x86-64), its vector versions; elsewhere
 * these, written so that the gate loops vectorize (no branch, no call, no table) and accurate to the
 * float type's rounding (the tests hold them to libm over the whole input range). */
#if IS_DOUBLE
typedef int64_t F(bits);
#define ROUNDER 0x1.8p52 /* x + ROUNDER - ROUNDER rounds x to an integer, which the sum's low bits hold */
#define MANTISSA 52
#define EXP_LO -746.0 /* exp's result rounds to 0 below, and overflows above */
#define EXP_HI 710.0
#define LN2_HI 6.93147180369123816490e-01 /* ln 2 in two parts: n LN2_HI is exact */
#define LN2_LO 1.90821492927058770002e-10
static const REAL F(exp_terms)[] = {1.0, 1.0, 0.5, 0.16666666666666666, 0.041666666666666664,
    0.008333333333333333, 0.001388888888888889, 0.0001984126984126984, 2.48015873015873e-05,
    2.7557319223985893e-06, 2.755731922398589e-07, 2.505210838544172e-08, 2.08767569878681e-09,
    1.6059043836821613e-10};
static const REAL F(tanh_terms)[] = {-0.3333333333333333, 0.13333333333333333, -0.05396825396825397,
    0.021869488536155203, -0.008863235529902197, 0.003592128036572481, -0.0014558343870513183,
    0.000590027440945586, -0.00023912911424355248, 9.691537956929451e-05, -3.927832388331683e-05,
    1.5918905069328964e-05, -6.451689215655431e-06, 2.6147711512907546e-06, -1.0597268320104654e-06,
    4.294911078273806e-07, -1.7406618963571648e-07, 7.054636946400968e-08};
#else
typedef int32_t F(bits);
#define ROUNDER 0x1.8p23f
#define MANTISSA 23
#define EXP_LO -104.0f
#define EXP_HI 89.0f
#define LN2_HI 0.693359375f
#define LN2_LO -2.12194440e-4f
static const REAL F(exp_terms)[] = {1.0f, 1.0f, 0.5f, 0.16666666666666666f, 0.041666666666666664f,
    0.008333333333333333f, 0.001388888888888889f, 0.0001984126984126984f};
static const REAL F(tanh_terms)[] = {-0.3333333333333333f, 0.13333333333333333f, -0.05396825396825397f,
    0.021869488536155203f, -0.008863235529902197f, 0.003592128036572481f, -0.0014558343870513183f,
    0.000590027440945586f};
#endif
#define TERMS(a) ((int)(sizeof(a) / sizeof(a)[0]))

/* 2^n for an integer n whose power is a normal number. */
static inline REAL F(pow2)(REAL n) {
    const REAL t = n + ROUNDER, rounder = ROUNDER;
    F(bits) bits, zero;
    memcpy(&bits, &t, sizeof bits);
    memcpy(&zero, &rounder, sizeof zero);
    bits = (F(bits))((uint64_t)(bits - zero + (((F(bits))1 << (sizeof(REAL) * 8 - MANTISSA - 2)) - 1)) << MANTISSA);
    REAL s;
    memcpy(&s, &bits, sizeof s);
    return s;
}

/* e^x = 2^n e^r for n = round(x / ln 2) and |r| <= ln 2 / 2, e^r by its Taylor series, 2^n as the
 * product of the powers of n's two halves, so that subnormal results and overflow come out right. */
static inline REAL F(exp_own)(REAL x) {
    x = x < EXP_LO ? EXP_LO : x > EXP_HI ? EXP_HI : x; /* NaN passes */
    const REAL n = (x * (REAL)1.44269504088896340736 + ROUNDER) - ROUNDER;
    const REAL r = (x - n * LN2_HI) - n * LN2_LO;
    REAL p = F(exp_terms)[TERMS(F(exp_terms)) - 1];
#pragma GCC unroll 32 /* unrolled, so that the loops around vectorize */
    for (int i = TERMS(F(exp_terms)) - 2; i >= 0; i--) p = p * r + F(exp_terms)[i];
    const REAL half = (n * (REAL)0.5 + ROUNDER) - ROUNDER;
    return p * F(pow2)(half) * F(pow2)(n - half);
}

/* tanh x: its Taylor series below |x| = 0.55 (to the float type's rounding), 1 - 2 / (e^2|x| + 1)
 * with x's sign above. */
static inline REAL F(tanh_own)(REAL x) {
    const REAL a = x < 0 ? -x : x, z = x * x;
    REAL p = F(tanh_terms)[TERMS(F(tanh_terms)) - 1];
#pragma GCC unroll 32 /* unrolled, so that the loops around vectorize */
    for (int i = TERMS(F(tanh_terms)) - 2; i >= 0; i--) p = p * z + F(tanh_terms)[i];
    const REAL large = 1 - 2 / (F(exp_own)(2 * a) + 1);
    return a < (REAL)0.55 ? x + x * z * p : x < 0 ? -large : large;
}
#undef ROUNDER
#undef MANTISSA
#undef EXP_LO
#undef EXP_HI
#undef LN2_HI
#undef LN2_LO
#undef TERMS
#ifndef LSTM_USE_MVEC
#undef EXP
#undef TANH
#define EXP F(exp_own)
#define TANH F(tanh_own)
#endif

/* y = EXP(x) and z = TANH(x) for n values, in the loops the gates use (the tests compare them with libm). */
void F(lstm_maths)(long n, const REAL *restrict x, REAL *restrict y, REAL *restrict z) {
    for (long k = 0; k < n; k++) y[k] = EXP(x[k]);
    for (long k = 0; k < n; k++) z[k] = TANH(x[k]);
}

/* What one thread does of a pass: the time loop for its nown rows, own[0] < own[1] < ... */
typedef struct {
    int T, B, D, nown, status;
    const int *own;
    const long long *ids; /* with table: the word of each (t, b), whose projection is a row of table */
    long long table_rows; /* with table: its rows, from whose end a negative id counts */
    const REAL *emb, *mask, *W, *b, *U, *h, *c, *gates, *dh, *dpool, *table;
    const REAL *pmax, *dmax; /* backward with max pooling: each unit's maximum over the real steps, its gradient */
    REAL *hw, *cw, *gw, *pool;
    REAL *pool_max; /* forward: each unit's maximum over the real steps (B, D), as max_pool gives it */
    int ring; /* hw and cw hold two steps, in turn, not T */
    int part; /* which of the pass's jobs this is */
    REAL *demb, *sums; /* backward: demb, and each part's sums of dW, dU and db, side by side */
    REAL *dxall; /* backward by words: every real pair's dpreact, the job's from row slot0, in its order */
    long long slot0, *slot; /* and each pair's (t * B + r) row of dxall */
} F(job);

/* The table row of (t, b), at tb = t * B + b. */
static inline size_t F(word)(const F(job) *a, size_t tb) { return (size_t)row_of(a->ids[tb], a->table_rows); }

/* One row's step through the cell, from its preactivations x (4D) and c[t-1], h[t-1]: its activated
 * gates p (sigmoid for i, f, o and tanh for g), c[t] and h[t]. A loop per function and per result:
 * a call to libmvec clobbers every vector register, and five in one loop spilled its values around
 * each (apart: the prediction pass takes 7 to 11% less time on avx2, with the same bits). */
static void F(cell)(int D, REAL mb, const REAL *restrict x, REAL *restrict p, const REAL *restrict c_,
                    const REAL *restrict h_, REAL *restrict ct, REAL *restrict ht) {
    const REAL *i = p, *f = p + D, *o = p + 2 * D;
    REAL *g = p + 3 * D;
    for (int k = 0; k < 3 * D; k++) p[k] = 1 / (1 + EXP(-x[k])); /* i, f, o */
    for (int k = 0; k < D; k++) g[k] = TANH(x[3 * D + k]);
    for (int k = 0; k < D; k++) ct[k] = mb * (f[k] * c_[k] + i[k] * g[k]) + (1 - mb) * c_[k];
    for (int k = 0; k < D; k++) ht[k] = TANH(ct[k]);
    for (int k = 0; k < D; k++) ht[k] = mb * (o[k] * ht[k]) + (1 - mb) * h_[k];
}

/* o (D) = the maximum of o and v (D), unit by unit, as NumPy's max takes it: a NaN wins. */
static inline void F(max_into)(int D, REAL *restrict o, const REAL *restrict v) {
    for (int k = 0; k < D; k++) o[k] = v[k] > o[k] || v[k] != v[k] ? v[k] : o[k];
}

/* The forward time loop for a job's rows: h, c and, unless gates is NULL, the activated gates.
 * The input is projected CHUNK steps at a time, into a buffer of this thread (or, with table,
 * looked up). Masked rows carry h and c and get zero gates. With pool, pool gets the sum over
 * t of mask * h, summed in double as PyTensor sums float32; with pool_max, each unit's maximum
 * over the steps whose mask is positive, as max_pool takes it (-inf for a review of none). */
static void *F(forward_rows)(void *arg) {
    F(job) *a = arg;
    const int T = a->T, B = a->B, D = a->D, G = 4 * D, nown = a->nown;
    REAL *h = a->hw, *c = a->cw, *gates = a->gw;
    const int chunked = !a->table, consecutive = nown && a->own[nown - 1] - a->own[0] == nown - 1;
    REAL *pre = chunked ? NULL : malloc(sizeof(REAL) * nown * G + 1); /* a step's preactivations, with table */
    const REAL **src = chunked ? NULL : malloc(sizeof(REAL *) * nown + 1); /* and their rows of table */
    REAL *hprev = malloc(sizeof(REAL) * nown * D + 1);
    REAL *eb = chunked ? malloc(sizeof(REAL) * CHUNK * nown * D + 1) : NULL;
    REAL *xp = chunked ? malloc(sizeof(REAL) * CHUNK * nown * G + 1) : NULL;
    int *at = chunked ? malloc(sizeof(int) * CHUNK * nown + 1) : NULL; /* (step, q) -> its row of xp */
    int *rows = malloc(sizeof(int) * nown + 1);
    REAL *zero = calloc((size_t)D + 1, sizeof(REAL)); /* h[-1] and c[-1] */
    REAL *act = malloc(sizeof(REAL) * G + 1); /* a row's activated gates, when they are not stored */
    double *acc = a->pool ? calloc((size_t)nown * D + 1, sizeof(double)) : NULL;
    F(right) U = {0}, Wp = {0}; /* U, and W for the chunks' projections */
    a->status = -1;
    if (!hprev || !rows || !zero || !act || (chunked ? !eb || !xp || !at : !pre || !src) || (a->pool && !acc)) goto done;
    if (F(right_prepare)(&U, a->U, D, G, 0)) goto done;
    if (chunked && F(right_prepare)(&Wp, a->W, D, G, 0)) goto done;
    if (a->pool_max)
        for (int q = 0; q < nown; q++)
            for (int k = 0; k < D; k++) a->pool_max[(size_t)a->own[q] * D + k] = -INFINITY;
    for (int t = 0; t < T; t++) {
        const REAL *m = a->mask + (size_t)t * B;
        const size_t now = a->ring ? (size_t)(t & 1) : (size_t)t, before = a->ring ? now ^ 1 : now - 1;
        const REAL *hp = t ? h + before * B * D : NULL;
        const REAL *cp = t ? c + before * B * D : NULL;
        if (chunked && t % CHUNK == 0) { /* project the chunk's real steps, skipping masked ones */
            const int steps = T - t < CHUNK ? T - t : CHUNK;
            int real = 0;
            for (int s = 0; s < steps; s++)
                for (int q = 0; q < nown; q++) {
                    const size_t tb = (size_t)(t + s) * B + a->own[q];
                    if (a->mask[tb] == 0) continue;
                    at[s * nown + q] = real;
                    memcpy(eb + (size_t)real++ * D, a->emb + tb * D, sizeof(REAL) * D);
                }
            F(project)(&Wp, real, eb, a->b, xp);
        }
        int n = 0; /* the active rows, as indices q into own */
        for (int q = 0; q < nown; q++)
            if (m[a->own[q]] != 0) rows[n++] = q;
        /* the step's preactivations: its rows of xp, consecutive, in place; or its rows of table plus the
         * step's product, which reads them where they are */
        REAL *ps = chunked && n ? xp + (size_t)at[(t % CHUNK) * nown + rows[0]] * G : pre;
        const int all = n == nown && consecutive; /* h[t-1] of the step's rows is consecutive as it is */
        for (int j = 0; j < n; j++) {
            const int r = a->own[rows[j]];
            if (!chunked) src[j] = a->table + F(word)(a, (size_t)t * B + r) * G;
            if (!chunked && !hp) memcpy(pre + (size_t)j * G, src[j], sizeof(REAL) * G);
            if (hp && !all) memcpy(hprev + (size_t)j * D, hp + (size_t)r * D, sizeof(REAL) * D);
        }
        if (hp) F(step_product)(&U, n, all ? hp + (size_t)a->own[0] * D : hprev, src, ps);
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
            if (!chunked && t + 1 < T && m[B + r] != 0) /* the row's next projection, on its way meanwhile */
                fetch(a->table + F(word)(a, (size_t)(t + 1) * B + r) * G, sizeof(REAL) * G);
            REAL *p = gates ? gates + ((size_t)t * B + r) * G : act; /* stored for the backward pass, or not */
            F(cell)(D, m[r], ps + (size_t)j * G, p, c_ ? c_ : zero, h_ ? h_ : zero, cb, hb);
            j++;
        }
        if (acc)
            for (int q = 0; q < nown; q++) {
                const REAL mb = m[a->own[q]], *hb = h + (now * B + a->own[q]) * D;
                for (int k = 0; k < D; k++) acc[(size_t)q * D + k] += (double)(hb[k] * mb);
            }
        if (a->pool_max)
            for (int j = 0; j < n; j++) {
                const int r = a->own[rows[j]];
                if (m[r] > 0) F(max_into)(D, a->pool_max + (size_t)r * D, h + (now * B + r) * D);
            }
    }
    if (acc)
        for (int q = 0; q < nown; q++)
            for (int k = 0; k < D; k++) a->pool[(size_t)a->own[q] * D + k] = (REAL)acc[(size_t)q * D + k];
    a->status = 0;
done:
    free(pre); free(src); free(hprev); free(eb); free(xp); free(at); free(rows); free(zero); free(act); free(acc);
    F(right_free)(&U); F(right_free)(&Wp);
    return NULL;
}

/* One row's step back through the cell, from the activated gates p, c[t] and c[t-1]: dpreact
 * into dp, and dh and dc (through the later steps) become those through this step and later. */
static void F(cell_back)(int D, REAL mb, const REAL *restrict p, const REAL *restrict ct,
                         const REAL *restrict c_, REAL *restrict tc, REAL *restrict dp, REAL *restrict dh,
                         REAL *restrict dc) {
    for (int k = 0; k < D; k++) tc[k] = TANH(ct[k]);
    for (int k = 0; k < D; k++) {
        const REAL i = p[k], f = p[D + k], o = p[2 * D + k], g = p[3 * D + k];
        const REAL dhn = mb * dh[k];                            /* through o * tanh(c) */
        const REAL dct = dc[k] + dhn * o * (1 - tc[k] * tc[k]); /* for c[t] */
        const REAL dcn = mb * dct;                              /* through f * c_ + i * g */
        dp[k] = dcn * g * i * (1 - i);
        dp[D + k] = dcn * c_[k] * f * (1 - f);
        dp[2 * D + k] = dhn * tc[k] * o * (1 - o);
        dp[3 * D + k] = dcn * i * (1 - g * g);
        dc[k] = (1 - mb) * dct + dcn * f;
        dh[k] = (1 - mb) * dh[k];
    }
}

/* The weight gradients of a chunk of `rows` (step, row) pairs, from their dpreact dx and their
 * inputs eh, each row emb[t] then h[t-1] side by side: sWU (dW's sum, then dU's) += eh^T dx,
 * sb += the sums of dx, and de = dx @ W^T (W^T prepared by right_prepare). */
static void F(chunk_grads)(int rows, int D, const REAL *dx, const REAL *eh, const F(right) *WT, REAL *restrict sWU,
                           REAL *restrict sb, REAL *de) {
    const int G = 4 * D;
    F(update)(rows, 2 * D, G, eh, 2 * D, dx, G, sWU);
    memset(de, 0, sizeof(REAL) * rows * D);
    F(step_product)(WT, rows, dx, NULL, de);
    for (int j = 0; j < rows; j++)
        for (int k = 0; k < G; k++) sb[k] += dx[(size_t)j * G + k];
}

/* The backward time loop for a job's rows: dpreact, step by step, and from it, CHUNK steps at a
 * time (while they are in this thread's cache), demb and this part's sums of dW, dU and db. A
 * chunk keeps only its real (step, row) pairs, in the order they come: a masked pair's dpreact
 * is 0, and so are its terms in every product, which are skipped. */
static void *F(backward_rows)(void *arg) {
    F(job) *a = arg;
    const int T = a->T, B = a->B, D = a->D, G = 4 * D, nown = a->nown;
    REAL *sWU = a->sums + (size_t)a->part * (2 * D + 1) * G, *sb = sWU + 2 * D * G; /* dW's, dU's; db's */
    REAL *dhc = calloc((size_t)nown * D + 1, sizeof(REAL)); /* dcost/dh[t] through steps > t */
    REAL *dcc = calloc((size_t)nown * D + 1, sizeof(REAL)); /* dcost/dc[t] through steps > t */
    REAL *zero = calloc((size_t)2 * D + 1, sizeof(REAL)), *tc = zero + D; /* c[-1]; tanh(c[t]) */
    REAL *dhp = malloc(sizeof(REAL) * nown * D + 1); /* a step's dpreact @ U^T, for its real rows */
    const int words = a->dxall != NULL, ew = words ? D : 2 * D; /* by words, eh holds h[t-1] alone */
    REAL *own = words ? NULL : malloc(sizeof(REAL) * CHUNK * nown * G + 1); /* the chunk's real pairs' dpreact */
    REAL *eh = malloc(sizeof(REAL) * CHUNK * nown * ew + 1); /* and their emb[t] and h[t-1] */
    REAL *de = words ? NULL : malloc(sizeof(REAL) * CHUNK * nown * D + 1);
    size_t *pair = malloc(sizeof(size_t) * CHUNK * nown + 1); /* and their t * B + r */
    int *rows = malloc(sizeof(int) * nown + 1);
    long long slot = a->slot0; /* by words: the dxall row of the chunk's first pair */
    REAL *dx = words ? a->dxall + slot * G : own;
    F(right) UT = {0}, WT = {0}; /* U^T, and W^T for demb */
    a->status = -1;
    if (!dhc || !dcc || !zero || !dhp || !dx || !eh || (!words && !de) || !pair || !rows) goto done;
    memset(sWU, 0, sizeof(REAL) * (2 * D + 1) * G);
    if (F(right_prepare)(&UT, a->U, G, D, 1)) goto done;
    if (!words && F(right_prepare)(&WT, a->W, G, D, 1)) goto done;
    for (int t = T - 1, real = 0; t >= 0; t--) { /* real: the chunk's real pairs so far */
        const REAL *m = a->mask + (size_t)t * B;
        int n = 0;
        for (int q = 0; q < nown; q++) {
            const int r = a->own[q];
            const size_t at = (size_t)t * B + r;
            if (a->dpool) /* mean pooling's gradient: dh[t] = mask[t] * dpool */
                for (int k = 0; k < D; k++) dhc[(size_t)q * D + k] += m[r] * a->dpool[(size_t)r * D + k];
            else if (a->dh)
                for (int k = 0; k < D; k++) dhc[(size_t)q * D + k] += a->dh[at * D + k];
            if (a->dmax && m[r] > 0) /* max pooling's: dmax at each step where h[t] is the maximum */
                for (int k = 0; k < D; k++)
                    if (a->h[at * D + k] == a->pmax[(size_t)r * D + k]) dhc[(size_t)q * D + k] += a->dmax[(size_t)r * D + k];
            if (m[r] == 0) {
                if (!words) memset(a->demb + at * D, 0, sizeof(REAL) * D);
                continue;
            }
            REAL *row = eh + (size_t)(real + n) * ew;
            if (!words) memcpy(row, a->emb + at * D, sizeof(REAL) * D);
            memcpy(row + ew - D, t ? a->h + (at - B) * D : zero, sizeof(REAL) * D);
            pair[real + n] = at;
            rows[n++] = q;
        }
        REAL *dxt = dx + (size_t)real * G;
        for (int j = 0; j < n; j++) {
            const int q = rows[j];
            const size_t at = pair[real + j];
            if (t > 1) { /* the row's gates and c two steps back, read soon after this step's product */
                fetch(a->gates + (at - 2 * B) * G, sizeof(REAL) * G);
                fetch(a->c + (at - 2 * B) * D, sizeof(REAL) * D);
            }
            F(cell_back)(D, m[a->own[q]], a->gates + at * G, a->c + at * D, t ? a->c + (at - B) * D : zero,
                         tc, dxt + (size_t)j * G, dhc + (size_t)q * D, dcc + (size_t)q * D);
        }
        if (t && n) { /* dh[t-1] += dpreact @ U^T */
            memset(dhp, 0, sizeof(REAL) * n * D);
            F(step_product)(&UT, n, dxt, NULL, dhp);
            for (int j = 0; j < n; j++)
                for (int k = 0; k < D; k++) dhc[(size_t)rows[j] * D + k] += dhp[(size_t)j * D + k];
        }
        real += n;
        if (t % CHUNK == 0 && real && words) { /* the chunk is complete: dU's share, and where its dx is */
            F(update)(real, D, G, eh, D, dx, G, sWU + D * G);
            for (int j = 0; j < real; j++) a->slot[pair[j]] = slot + j;
            dx = a->dxall + (slot += real) * G;
        } else if (t % CHUNK == 0 && real) { /* the chunk is complete: its weight gradients and demb */
            F(chunk_grads)(real, D, dx, eh, &WT, sWU, sb, de);
            for (int j = 0; j < real; j++) memcpy(a->demb + pair[j] * D, de + (size_t)j * D, sizeof(REAL) * D);
        }
        if (t % CHUNK == 0) real = 0;
    }
    a->status = 0;
done:
    free(dhc); free(dcc); free(zero); free(dhp); free(own); free(eh); free(de); free(pair); free(rows);
    F(right_free)(&UT); F(right_free)(&WT);
    return NULL;
}

/* Run `body` over the batch's rows, shared among up to `threads` jobs, each in its own thread; rows are
 * independent through time. A row's work is its padded pairs plus PADDED per real pair; the rows, the
 * heaviest first, go each to the job with the least work so far, and each job takes its rows in
 * increasing order (in the tutorial's batches of 16 the two threads then wait 0 to 12 us for each
 * other per pass, where ranges of consecutive rows, off by up to half a row's work, made them wait 25
 * to 70). The split depends on the mask alone: the same sums every time. Two threads may write the
 * same cache line where a row of D values is not a multiple of one (a cost, not an error). */
static int F(parallel)(void *(*body)(void *), F(job) proto) {
    const int B = proto.B, T = proto.T, nt = threads(B);
    F(job) jobs[MAX_THREADS];
    long long load[MAX_THREADS] = {0}, real[MAX_THREADS] = {0};
    int status = 0, count[MAX_THREADS] = {0}, at[MAX_THREADS];
    row_work *rows = malloc(sizeof(row_work) * B + 1);
    int *job_of = malloc(sizeof(int) * 2 * B + 1), *own = job_of + B;
    if (!rows || !job_of) { free(rows); free(job_of); return -1; }
    for (int r = 0; r < B; r++) {
        long long n = 0;
        for (int t = 0; t < T; t++) n += proto.mask[(size_t)t * B + r] != 0;
        rows[r] = (row_work){PADDED * n + (T - n) + 1, n, r};
    }
    qsort(rows, B, sizeof(row_work), heavier_first);
    for (int i = 0; i < B; i++) {
        int g = 0;
        for (int k = 1; k < nt; k++) g = load[k] < load[g] ? k : g;
        load[g] += rows[i].work, real[g] += rows[i].real, count[g]++;
        job_of[rows[i].row] = g;
    }
    for (int g = 0, first = 0; g < nt; first += count[g++]) {
        jobs[g] = proto;
        jobs[g].own = own + (at[g] = first);
        jobs[g].nown = count[g];
        jobs[g].part = g;
        jobs[g].slot0 = g ? jobs[g - 1].slot0 + real[g - 1] : 0; /* real pairs of the jobs before */
    }
    for (int r = 0; r < B; r++) own[at[job_of[r]]++] = r;
    run_jobs(body, jobs, nt, sizeof(F(job)));
    for (int g = 0; g < nt; g++) status |= jobs[g].status;
    free(rows);
    free(job_of);
    return status;
}

/* emb (T,B,D), mask (T,B), W and U (D,4D), b (4D) -> h and c (T,B,D) and, unless gates is
 * NULL, the activated gates (T,B,4D) for the backward pass (0 on masked rows); unless pool is
 * NULL, the sum over t of mask * h (B,D), and unless pool_max is, each unit's maximum over the
 * real steps (B,D). With h NULL, only those: no step is stored. */
int F(lstm_forward)(int T, int B, int D, const REAL *emb, const REAL *mask, const REAL *W,
                    const REAL *b, const REAL *U, REAL *h, REAL *c, REAL *gates, REAL *pool, REAL *pool_max) {
    REAL *ring = h ? NULL : malloc(sizeof(REAL) * 4 * B * D + 1);
    if (!h && !ring) return -1;
    F(job) proto = {.T = T, .B = B, .D = D, .emb = emb, .mask = mask, .W = W, .b = b, .U = U,
                    .hw = h ? h : ring, .cw = h ? c : ring + 2 * B * D, .gw = h ? gates : NULL, .pool = pool,
                    .pool_max = pool_max, .ring = !h};
    int status = F(parallel)(F(forward_rows), proto);
    free(ring);
    return status;
}

/* lstm_forward's pooled outputs (pool_max may be NULL), for the reviews ids (T,B), each id a row of
 * table (n, 4D), negative ones counted from its end: the projection of a word is looked up instead
 * of computed. Returns -2, having written nothing, if an id is out of [-n, n); -1 if the buffers
 * cannot be allocated. */
int F(lstm_pooled_ids)(int T, int B, int D, long long n, const REAL *table, const long long *ids,
                       const REAL *mask, const REAL *U, REAL *pool, REAL *pool_max) {
    if (!ids_in_range(n, (long long)T * B, ids)) return -2;
    REAL *ring = malloc(sizeof(REAL) * 4 * B * D + 1);
    if (!ring) return -1;
    F(job) proto = {.T = T, .B = B, .D = D, .ids = ids, .table_rows = n, .table = table, .mask = mask, .U = U,
                    .hw = ring, .cw = ring + 2 * B * D, .pool = pool, .pool_max = pool_max, .ring = 1};
    int status = F(parallel)(F(forward_rows), proto);
    free(ring);
    return status;
}

/* Values [begin, end) of dW and dU (and, for the first range, db): the sums of the nt parts' shares. */
typedef struct { int nt, D; long begin, end; const REAL *sums; REAL *dW, *db, *dU; } F(parts_sum);

static void *F(sum_parts)(void *arg) {
    const F(parts_sum) *a = arg;
    const long G = 4 * a->D, part = (2 * a->D + 1) * G; /* a part's sums: dW's, dU's, then db's */
    const long n = a->end - a->begin, nb = a->begin ? 0 : G;
    REAL *restrict dW = a->dW + a->begin, *restrict dU = a->dU + a->begin, *restrict db = a->db;
    for (int i = 0; i < a->nt; i++) {
        const REAL *sW = a->sums + i * part + a->begin, *sU = sW + a->D * G, *sb = a->sums + i * part + 2 * a->D * G;
        for (long k = 0; k < n; k++) {
            dW[k] = (i ? dW[k] : 0) + sW[k];
            dU[k] = (i ? dU[k] : 0) + sU[k];
        }
        for (long k = 0; k < nb; k++) db[k] = (i ? db[k] : 0) + sb[k];
    }
    return NULL;
}

/* dW, db and dU: the sums of the nt parts' shares in sums, from 0, in the order of the parts
 * (large ones shared among the threads: the same sums). */
static void F(add_parts)(int nt, int D, const REAL *sums, REAL *dW, REAL *db, REAL *dU) {
    const long n = 4L * D * D;
    const int nj = n < (1L << 16) ? 1 : pool_size();
    F(parts_sum) jobs[MAX_THREADS];
    for (int i = 0; i < nj; i++) jobs[i] = (F(parts_sum)){nt, D, n * i / nj, n * (i + 1) / nj, sums, dW, db, dU};
    run_jobs(F(sum_parts), jobs, nj, sizeof(F(parts_sum)));
}

/* Given dh (T,B,D), the gradient of the cost for every h[t] (or, with dh NULL, dpool (B,D), that
 * for the sum over t of mask * h, or neither), and the forward pass's inputs, h, c and gates: the
 * gradients for emb (T,B,D), W and U (D,4D) and b (4D). Unless dmax is NULL, dh[t] gets dmax (B,D)
 * too where the mask is positive and h[t] equals pmax (B,D): the gradient of max pooling. Each
 * thread sums its rows' share of dW, dU and db; the shares are then added in a fixed order. */
int F(lstm_backward)(int T, int B, int D, const REAL *emb, const REAL *mask, const REAL *W,
                     const REAL *U, const REAL *h, const REAL *c, const REAL *gates, const REAL *dh,
                     const REAL *dpool, const REAL *pmax, const REAL *dmax, REAL *demb, REAL *dW, REAL *db,
                     REAL *dU) {
    const int G = 4 * D, nt = threads(B);
    REAL *sums = malloc(sizeof(REAL) * ((size_t)nt * (2 * D + 1) * G + 1));
    F(job) proto = {.T = T, .B = B, .D = D, .emb = emb, .mask = mask, .W = W, .U = U, .h = h, .c = c,
                    .gates = gates, .dh = dh, .dpool = dh ? NULL : dpool, .pmax = pmax, .dmax = dmax,
                    .demb = demb, .sums = sums};
    if (!sums || F(parallel)(F(backward_rows), proto)) { free(sums); return -1; }
    F(add_parts)(nt, D, sums, dW, db, dU);
    free(sums);
    return 0;
}

/* Training by words: the input projection is linear in the embedding, so it can be made per
 * distinct word of the batch instead of per (step, review) pair, and so can its gradients:
 * forward, the table of words[j]'s projection Wemb[words[j]] @ W + b; backward, for each word,
 * the sum dxw of its pairs' dpreact, then dW = Wemb[words]^T dxw and the word's row of the
 * embedding's gradient, dxw @ W^T. where[t * B + r] is the pair's word, an index into words. A
 * batch of the tutorial has about 2.6 pairs per word, so these products shrink by that much. */
typedef struct {
    int D, first, n, part, parts, nw, status;
    long long rows; /* backward: dWemb's, the vocabulary's */
    const long long *words, *start, *occ; /* backward: word j's pairs are dx's rows occ[start[j] .. start[j + 1]) */
    const REAL *Wemb, *W, *b, *dx;
    REAL *table, *dWemb, *sums;
} F(words_job);

/* A job's words' rows of the table, WORDS at a time (words NULL: every row of Wemb, in order). */
static void *F(table_rows)(void *arg) {
    F(words_job) *a = arg;
    const int D = a->D, G = 4 * D;
    REAL *e = malloc(sizeof(REAL) * WORDS * D + 1); /* their embeddings */
    F(right) W = {0};
    a->status = -1;
    if (!e) return NULL;
    if (F(right_prepare)(&W, a->W, D, G, 0)) goto done;
    for (int j = a->first, end = a->first + a->n; j < end; j += WORDS) {
        const int k = end - j < WORDS ? end - j : WORDS;
        for (int i = 0; a->words && i < k; i++) memcpy(e + (size_t)i * D, a->Wemb + a->words[j + i] * D, sizeof(REAL) * D);
        F(project)(&W, k, a->words ? e : a->Wemb + (size_t)j * D, a->b, a->table + (size_t)j * G);
    }
    a->status = 0;
done:
    F(right_free)(&W);
    free(e);
    return NULL;
}

/* Zeros in the rows of dWemb whose words the batch lacks, among this job's share of all rows (a share
 * of the rows, not of the words: the batch's words crowd the frequent words' low ids). */
static void F(zero_rows)(const F(words_job) *a) {
    const long long end = a->rows * (a->part + 1) / a->parts;
    long long r = a->rows * a->part / a->parts, j = 0;
    for (long long half = a->nw; half > 0;) { /* the first word >= r */
        const long long step = half / 2;
        if (a->words[j + step] < r) j += step + 1, half -= step + 1;
        else half = step;
    }
    for (; r < end; j++) {
        const long long next = j < a->nw && a->words[j] < end ? a->words[j] : end;
        memset(a->dWemb + r * a->D, 0, sizeof(REAL) * (size_t)(next - r) * a->D);
        r = next + 1;
    }
}

/* A job's words' gradients, WORDS at a time: their rows of dWemb, and the part's sums of dW and db;
 * and its share of dWemb's other rows, zeros. */
static void *F(word_grads)(void *arg) {
    F(words_job) *a = arg;
    const int D = a->D, G = 4 * D;
    REAL *sW = a->sums + (size_t)a->part * (2 * D + 1) * G, *sb = sW + 2 * D * G;
    REAL *e = malloc(sizeof(REAL) * WORDS * D + 1), *de = malloc(sizeof(REAL) * WORDS * D + 1);
    REAL *dxw = malloc(sizeof(REAL) * WORDS * G + 1);
    F(right) WT = {0};
    a->status = -1;
    if (!e || !de || !dxw) goto done;
    if (F(right_prepare)(&WT, a->W, G, D, 1)) goto done;
    for (int j = a->first, end = a->first + a->n; j < end; j += WORDS) {
        const int k = end - j < WORDS ? end - j : WORDS;
        memset(dxw, 0, sizeof(REAL) * k * G);
        for (int i = 0; i < k; i++) {
            REAL *restrict row = dxw + (size_t)i * G;
            for (long long o = a->start[j + i]; o < a->start[j + i + 1]; o++) {
                if (o + AHEAD < a->start[end]) /* a pair's row AHEAD pairs on, on its way meanwhile */
                    fetch(a->dx + a->occ[o + AHEAD] * G, sizeof(REAL) * G);
                const REAL *restrict d = a->dx + a->occ[o] * G;
                for (int c = 0; c < G; c++) row[c] += d[c];
            }
            for (int c = 0; c < G; c++) sb[c] += row[c];
            memcpy(e + (size_t)i * D, a->Wemb + a->words[j + i] * D, sizeof(REAL) * D);
        }
        F(update)(k, D, G, e, D, dxw, G, sW);
        memset(de, 0, sizeof(REAL) * k * D);
        F(step_product)(&WT, k, dxw, NULL, de);
        for (int i = 0; i < k; i++) memcpy(a->dWemb + a->words[j + i] * D, de + (size_t)i * D, sizeof(REAL) * D);
    }
    F(zero_rows)(a);
    a->status = 0;
done:
    F(right_free)(&WT);
    free(e); free(de); free(dxw);
    return NULL;
}

/* `body` over the nw words, in nt ranges of about equal work, one job each: of as many words, or, with
 * proto.start, of as many pairs and words. A word's gradient products (4 D^2 multiply-adds, twice) cost
 * about as much as summing D / 4 of its pairs' dpreact (4 D values each; measured: the threads' shares
 * then take equal times). */
static int F(over_words)(void *(*body)(void *), F(words_job) proto, int nw, int nt) {
    F(words_job) jobs[MAX_THREADS];
    int status = 0;
    const long long per_word = proto.D / 4 + 1, work = proto.start ? proto.start[nw] + per_word * nw : nw;
    for (int g = 0, end = 0; g < nt; g++) {
        jobs[g] = proto;
        jobs[g].first = end;
        end = g == nt - 1 ? nw
              : proto.start ? word_at(proto.start, per_word, nw, work * (g + 1) / nt)
                            : (int)(work * (g + 1) / nt);
        jobs[g].n = end - jobs[g].first;
        jobs[g].part = g;
        jobs[g].parts = nt;
        jobs[g].nw = nw;
    }
    run_jobs(body, jobs, nt, sizeof(F(words_job)));
    for (int g = 0; g < nt; g++) status |= jobs[g].status;
    return status;
}

/* The input projection of every word: table (n, 4D) = Wemb (n, D) @ W + b. */
int F(lstm_table)(int n, int D, const REAL *Wemb, const REAL *W, const REAL *b, REAL *table) {
    F(words_job) proto = {.D = D, .Wemb = Wemb, .W = W, .b = b, .table = table};
    return F(over_words)(F(table_rows), proto, n, word_threads(n)) ? -1 : 0;
}

/* lstm_forward of emb[t, r] = Wemb[words[where[t * B + r]]], with h, c and gates (and, unless
 * NULL, pool), the batch's nw words' input projections computed first, as a table. */
int F(lstm_forward_words)(int T, int B, int D, int nw, const REAL *Wemb, const long long *words,
                          const long long *where, const REAL *mask, const REAL *W, const REAL *b,
                          const REAL *U, REAL *h, REAL *c, REAL *gates, REAL *pool) {
    REAL *table = malloc(sizeof(REAL) * nw * 4 * D + 1);
    F(words_job) proto = {.D = D, .words = words, .Wemb = Wemb, .W = W, .b = b, .table = table};
    int status = !table || F(over_words)(F(table_rows), proto, nw, word_threads(nw));
    F(job) rows = {.T = T, .B = B, .D = D, .ids = where, .table_rows = nw, .table = table, .mask = mask, .U = U,
                   .hw = h, .cw = c, .gw = gates, .pool = pool};
    status = status || F(parallel)(F(forward_rows), rows);
    free(table);
    return status ? -1 : 0;
}

/* lstm_backward of that forward pass: the gradients for W, b, U and, instead of emb, for Wemb (n, D):
 * its rows words, and zeros in its other rows. Each word sums its pairs' dpreact in the order of t,
 * then r. */
int F(lstm_backward_words)(int T, int B, int D, int nw, long long n, const REAL *Wemb, const long long *words,
                           const long long *where, const REAL *mask, const REAL *W, const REAL *U,
                           const REAL *h, const REAL *c, const REAL *gates, const REAL *dh, const REAL *dpool,
                           const REAL *pmax, const REAL *dmax, REAL *dWemb, REAL *dW, REAL *db, REAL *dU) {
    const int G = 4 * D, nt = threads(B);
    long long real = 0;
    for (size_t tb = 0; tb < (size_t)T * B; tb++) real += mask[tb] != 0;
    REAL *sums = malloc(sizeof(REAL) * ((size_t)nt * (2 * D + 1) * G + 1));
    REAL *dx = malloc(sizeof(REAL) * ((size_t)real * G + 1));
    long long *slot = malloc(sizeof(long long) * ((size_t)T * B + 1)), *occ = malloc(sizeof(long long) * (real + 1));
    long long *start = calloc((size_t)nw + 2, sizeof(long long));
    int status = -1;
    if (!sums || !dx || !slot || !occ || !start) goto done;
    F(job) rows = {.T = T, .B = B, .D = D, .emb = NULL, .mask = mask, .W = W, .U = U, .h = h, .c = c,
                   .gates = gates, .dh = dh, .dpool = dh ? NULL : dpool, .pmax = pmax, .dmax = dmax, .sums = sums,
                   .dxall = dx, .slot = slot};
    if (F(parallel)(F(backward_rows), rows)) goto done;
    for (size_t tb = 0; tb < (size_t)T * B; tb++) /* each word's pairs, in the order of t, then r */
        if (mask[tb] != 0) start[where[tb] + 2]++;
    for (int j = 0; j < nw; j++) start[j + 2] += start[j + 1];
    for (size_t tb = 0; tb < (size_t)T * B; tb++)
        if (mask[tb] != 0) occ[start[where[tb] + 1]++] = slot[tb];
    F(words_job) proto = {.D = D, .rows = n, .words = words, .start = start, .occ = occ, .Wemb = Wemb, .W = W,
                          .dx = dx, .dWemb = dWemb, .sums = sums};
    if (F(over_words)(F(word_grads), proto, nw, nt)) goto done;
    F(add_parts)(nt, D, sums, dW, db, dU);
    status = 0;
done:
    free(sums); free(dx); free(slot); free(occ); free(start);
    return status;
}

/* Rows [begin, end) of a scatter-add: zeros, plus the rows of y whose index falls among them. */
typedef struct { long long n, K, begin, end; int D; const REAL *y; const long long *idx; REAL *out; } F(scatter);

static void *F(scatter_part)(void *arg) {
    const F(scatter) *a = arg;
    const int D = a->D;
    memset(a->out + a->begin * D, 0, sizeof(REAL) * (a->end - a->begin) * D);
    for (long long k = 0; k < a->K; k++) {
        const long long i = row_of(a->idx[k], a->n);
        if (i < a->begin || i >= a->end) continue;
        REAL *restrict o = a->out + i * D;
        const REAL *restrict v = a->y + k * D;
        for (int d = 0; d < D; d++) o[d] += v[d];
    }
    return NULL;
}

/* out (n, D) = zeros with y's rows (K, D) added at rows idx: the gradient of an embedding
 * lookup. Negative indices count from the end, as in NumPy; returns -1, having written nothing,
 * if one is out of range. Large tables are shared among threads by rows, each adding in the
 * order of idx: the same sums with any number of threads. */
int F(scatter_add)(long long n, int D, long long K, const REAL *y, const long long *idx, REAL *out) {
    if (!ids_in_range(n, K, idx)) return -1;
    const int nt = n * D < (1LL << 16) ? 1 : pool_size();
    F(scatter) parts[MAX_THREADS];
    for (int i = 0; i < nt; i++) parts[i] = (F(scatter)){n, K, n * i / nt, n * (i + 1) / nt, D, y, idx, out};
    run_jobs(F(scatter_part), parts, nt, sizeof(F(scatter)));
    return 0;
}

/* out (B,D) = the maximum over the steps t of h (T,B,D) where mask (T,B) is positive: max pooling over
 * the real steps; -inf where there is none, and NaN where a real step's value is NaN, as NumPy's max. */
void F(max_pool)(int T, int B, int D, const REAL *h, const REAL *mask, REAL *out) {
    for (size_t k = 0; k < (size_t)B * D; k++) out[k] = -INFINITY;
    for (size_t t = 0; t < (size_t)T; t++)
        for (size_t r = 0; r < (size_t)B; r++)
            if (mask[t * B + r] > 0) F(max_into)(D, out + r * D, h + (t * B + r) * D);
}

/* An optimizer's step over values [begin, end) of a parameter p, in place: g its gradient,
 * s1 and s2 its two running averages, a and c the step's scalars. */
typedef struct { long begin, end; REAL *p, *s1, *s2; const REAL *g; REAL a, c; } F(step);

#define ADADELTA_RHO ((REAL)0.95) /* ADADELTA's decay of its running averages */

/* One ADADELTA step, as optimizers.adadelta's graph does (s1 = ru2, s2 = rg2):
 *   rg2 = 0.95 rg2 + 0.05 g^2;  ud = -sqrt(ru2 + 1e-6) / sqrt(rg2 + 1e-6) * g
 *   ru2 = 0.95 ru2 + 0.05 ud^2; p = p + ud */
static void *F(adadelta_part)(void *arg) {
    const F(step) *a = arg;
    const REAL rho = ADADELTA_RHO, one_rho = (REAL)0.05, eps = (REAL)1e-6;
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
    const long n = whole.end;
    const int nt = n < (1L << 16) ? 1 : pool_size();
    F(step) parts[MAX_THREADS];
    for (int i = 0; i < nt; i++) {
        parts[i] = whole;
        parts[i].begin = n * i / nt;
        parts[i].end = n * (i + 1) / nt;
    }
    run_jobs(part, parts, nt, sizeof(F(step)));
}

void F(adadelta)(long n, REAL *p, const REAL *g, REAL *ru2, REAL *rg2) {
    F(in_parts)(F(adadelta_part), (F(step)){0, n, p, ru2, rg2, g, 0, 0});
}

/* ADADELTA over the rows of a (rows, cols) parameter, skipping every row whose gradient is all zeros
 * (an embedding's words that the batch lacks). For such a row a step changes nothing but ru2 and
 * rg2, each multiplied by rho; those products are made when the row next has a gradient, by rho^k
 * for the k steps it missed. seen[r] is the last step at which row r had a gradient, `step` this
 * one's number. One step missed gives the dense step's bits; more, the same values up to rounding
 * (one product instead of k). The threads take blocks of rows in turn from *next, as each finishes
 * one: the rows with gradients, the batch's words, crowd the frequent words' low ids. */
typedef struct { long rows, block, *next; int cols; long long step; REAL *p, *ru2, *rg2; const REAL *g; long long *seen; } F(rows);

/* Row r's step, if its gradient is not all zeros. */
static void F(adadelta_row)(const F(rows) *a, long r) {
    const int n = a->cols;
    const REAL *g = a->g + r * n;
    int nonzero = 0, c;
    for (c = 0; c < n; c++) nonzero |= g[c] != 0; /* no early exit: the loop vectorizes */
    if (!nonzero) return;
    REAL *ru2 = a->ru2 + r * n, *rg2 = a->rg2 + r * n;
    const long long missed = a->step - a->seen[r] - 1;
    if (missed > 0) {
        const double decay = pow((double)ADADELTA_RHO, (double)missed);
        for (c = 0; c < n; c++) {
            ru2[c] = (REAL)(ru2[c] * decay);
            rg2[c] = (REAL)(rg2[c] * decay);
        }
    }
    F(step) row = {r * n, (r + 1) * n, a->p, a->ru2, a->rg2, a->g, 0, 0};
    F(adadelta_part)(&row);
    a->seen[r] = a->step;
}

static void *F(adadelta_rows_part)(void *arg) {
    const F(rows) *a = arg;
    for (long first; (first = __atomic_fetch_add(a->next, a->block, __ATOMIC_RELAXED)) < a->rows;) {
        const long end = first + a->block < a->rows ? first + a->block : a->rows;
        for (long r = first; r < end; r++) F(adadelta_row)(a, r);
    }
    return NULL;
}

void F(adadelta_rows)(long rows, int cols, long long step, REAL *p, const REAL *g, REAL *ru2, REAL *rg2,
                      long long *seen) {
    const int nt = rows * cols < (1L << 16) ? 1 : pool_size();
    long next = 0, block = cols < (1 << 13) ? (1 << 13) / cols : 1; /* rows of about 8,192 values */
    F(rows) parts[MAX_THREADS];
    for (int i = 0; i < nt; i++) parts[i] = (F(rows)){rows, block, &next, cols, step, p, ru2, rg2, g, seen};
    run_jobs(F(adadelta_rows_part), parts, nt, sizeof(F(rows)));
}

void F(adam)(long n, REAL *p, const REAL *g, REAL *m, REAL *v, double a, double c) {
    F(in_parts)(F(adam_part), (F(step)){0, n, p, m, v, g, (REAL)a, (REAL)c});
}

#endif
