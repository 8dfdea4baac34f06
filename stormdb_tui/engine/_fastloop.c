/*
 * The multiplexed driver's round trips for straight pgbench scripts, in C.
 *
 * A straight script is only `\set x random(lo, hi)` and prepared SQL with
 * nothing stored (the built-in scripts are). For those, everything between
 * one round trip and the next is fixed: read the result, draw the next
 * values, send the next statement. In Python that costs about 12 µs of CPU
 * per select-only transaction; pgbench spends 4 in all. This file does those
 * steps, and only those, so the loop costs what libpq costs.
 *
 * Any other script is "stepped": Python's step() (MultiplexGroup._stepper)
 * runs its meta-commands between two round trips (\set of any expression,
 * \if, storing \gset rows) and returns the next statement, which this loop
 * sends and whose result it reads; \sleep and pipelines go back to Python.
 *
 * It is an accelerator, not a second driver. Python (engine/multiplex.py)
 * connects, prepares, decides what is eligible and compiles the script into
 * "ops"; it owns timers, the open model's arrivals, quotas, retries, failures
 * and reconnects. This loop owns a connection ("armed") from the moment
 * Python hands it a transaction until something needs Python: the
 * transaction ended and may not restart here, a statement failed, the
 * connection broke, or the socket is full. It then hands the connection back
 * with the state Python needs to carry on from the same point.
 *
 * In the open model Python still draws the arrival schedule; it feeds the
 * arrival times a few milliseconds ahead, and this loop starts each one on
 * a free connection when it is due, as Python's own loop would, so a
 * transaction costs no trip through Python at either end.
 *
 * Values are drawn by calling the client's own Python generator
 * (random.Random.random) with pgbench-script semantics identical to
 * pgbench/expr.py's, so a seeded run draws the same values on either path.
 *
 * libpq is the one psycopg already loaded (its symbols are looked up by path
 * with dlopen), so the connections are psycopg's own PGconn pointers and no
 * libpq headers are needed to build this file.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include "structmember.h"

#include <dlfcn.h>
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>

typedef struct pg_conn PGconn;
typedef struct pg_result PGresult;

/* ExecStatusType values are part of libpq's stable ABI. */
#define PGRES_TUPLES_OK 2

static int (*PQsendQueryPrepared)(PGconn *, const char *, int, const char *const *, const int *, const int *, int);
static int (*PQsendQueryParams)(PGconn *, const char *, int, const void *, const char *const *, const int *,
                                const int *, int);
static int (*PQsendQuery)(PGconn *, const char *);
static int (*PQntuples)(const PGresult *);
static int (*PQnfields)(const PGresult *);
static char *(*PQfname)(const PGresult *, int);
static char *(*PQgetvalue)(const PGresult *, int, int);
static int (*PQgetisnull)(const PGresult *, int, int);
static int (*PQgetlength)(const PGresult *, int, int);
static int (*PQflush)(PGconn *);
static int (*PQconsumeInput)(PGconn *);
static int (*PQisBusy)(PGconn *);
static PGresult *(*PQgetResult)(PGconn *);
static int (*PQresultStatus)(const PGresult *);
static void (*PQclear)(PGresult *);
static char *(*PQresultErrorField)(const PGresult *, int);
static char *(*PQresultErrorMessage)(const PGresult *);
static char *(*PQerrorMessage)(const PGconn *);
static int (*PQlibVersion)(void);
static int loaded = 0;

/* Every diagnostic field psycopg's Diagnostic can ask a result for. */
static const char ERROR_FIELDS[] = "SVCMDHPpqWstcdnFLR";

/* Why a connection goes back to Python. */
enum { BACK_DONE = 0, BACK_FAILED = 1, BACK_LOST = 2, BACK_FLUSH = 3, BACK_STEP = 4, BACK_ERROR = 5 };

/* What a stepped client's step() asks to send. */
enum { SEND_PREPARED = 0, SEND_PARAMS = 1, SEND_QUERY = 2 };

#define FINE_WAIT_NS 2000000 /* below this, wait in microseconds (ppoll), not epoll's milliseconds */
#define MAX_EVENTS 64

typedef struct {
    int is_set;
    /* \set var random(lo, lo + span - 1) */
    PyObject *name;
    int64_t lo, span;
    int var;
    /* SQL: a prepared statement and, per parameter, a value slot or a constant */
    char *prepname;
    int nparams;
    int *pvar;       /* >= 0: index into vals; -1: the constant below */
    char **pconst;   /* NULL where the constant is SQL NULL */
} Op;

typedef struct {
    PGconn *conn;
    int fd;
    int armed;
    int restart;        /* this client may start its next transaction here (no quota) */
    PyObject *slot;     /* the Python slot, returned in hand-backs */
    PyObject *random;   /* the client's random.Random.random */
    PyObject *vars;     /* the client's variables: \set values are stored there too */
    Op *ops;
    int nops, nvals, maxparams;
    int pc, sent;
    int64_t *vals;
    int64_t t0, queries;
    int64_t *lat;       /* latencies (µs) of transactions finished here, until taken */
    int64_t *svc, *lag; /* open model: service time and schedule lag of the same transactions */
    Py_ssize_t nlat, caplat;
    int64_t sched;      /* open model: when the transaction running was scheduled to start */
    int idle;           /* armed and waiting in the loop's free list for an arrival */
    int64_t skipped, late;
    char (*pbuf)[24];
    const char **pvals;
    /* Stepped clients (any script): Python's step(fresh, stored) runs the script's meta-commands and
       returns the next statement; this loop does the round trips. */
    PyObject *step;
    int fresh;          /* the next step() starts a new transaction of the one script */
    int store;          /* the statement in flight stores its rows (\gset, \aset) */
    PyObject *stored;   /* its results so far, as (fields, last row, ntuples) tuples */
} Slot;

typedef struct {
    PyObject_HEAD
    int epfd;
    int restart;        /* the loop may restart transactions (closed model, one script, not stopping) */
    Slot **byfd;
    int nbyfd;
    PyObject *back;     /* hand-backs of the poll in progress */
    int open;           /* open model: finished transactions wait here for the next fed arrival */
    int64_t limit_ns;   /* --latency-limit: an arrival already this late is skipped, and slower ones are late */
    int64_t *arrivals;  /* fed arrival times not yet started, a ring */
    Py_ssize_t ahead, alen, acap;
    Slot **free_;       /* armed slots waiting for an arrival, a ring */
    int fhead, flen, fcap;
} Loop;

static int64_t mono_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts); /* time.perf_counter_ns's clock on Linux */
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* -- libpq -------------------------------------------------------------------- */

static PyObject *fl_load(PyObject *mod, PyObject *args) {
    const char *path;
    if (!PyArg_ParseTuple(args, "s", &path))
        return NULL;
    void *h = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
    if (h == NULL) {
        PyErr_Format(PyExc_OSError, "libpq is not loaded from %s", path);
        return NULL;
    }
#define SYM(name)                                                                     \
    do {                                                                              \
        *(void **)(&name) = dlsym(h, #name);                                          \
        if (name == NULL) {                                                           \
            PyErr_Format(PyExc_OSError, "%s has no %s", path, #name);                 \
            return NULL;                                                              \
        }                                                                             \
    } while (0)
    SYM(PQsendQueryPrepared);
    SYM(PQsendQueryParams);
    SYM(PQsendQuery);
    SYM(PQntuples);
    SYM(PQnfields);
    SYM(PQfname);
    SYM(PQgetvalue);
    SYM(PQgetisnull);
    SYM(PQgetlength);
    SYM(PQflush);
    SYM(PQconsumeInput);
    SYM(PQisBusy);
    SYM(PQgetResult);
    SYM(PQresultStatus);
    SYM(PQclear);
    SYM(PQresultErrorField);
    SYM(PQresultErrorMessage);
    SYM(PQerrorMessage);
    SYM(PQlibVersion);
#undef SYM
    loaded = 1;
    return PyLong_FromLong(PQlibVersion());
}

/* -- slots -------------------------------------------------------------------- */

static void slot_free(Slot *s) {
    if (s == NULL)
        return;
    for (int i = 0; i < s->nops; i++) {
        Op *op = &s->ops[i];
        Py_XDECREF(op->name);
        free(op->prepname);
        if (op->pconst != NULL)
            for (int j = 0; j < op->nparams; j++)
                free(op->pconst[j]);
        free(op->pconst);
        free(op->pvar);
    }
    free(s->ops);
    free(s->vals);
    free(s->lat);
    free(s->svc);
    free(s->lag);
    free(s->pbuf);
    free(s->pvals);
    Py_XDECREF(s->slot);
    Py_XDECREF(s->random);
    Py_XDECREF(s->vars);
    Py_XDECREF(s->step);
    Py_XDECREF(s->stored);
    free(s);
}

static Slot *lookup(Loop *self, int fd) {
    return (fd >= 0 && fd < self->nbyfd) ? self->byfd[fd] : NULL;
}

static char *dup_bytes(PyObject *b) {
    char *src;
    Py_ssize_t n;
    if (PyBytes_AsStringAndSize(b, &src, &n) < 0)
        return NULL;
    char *out = malloc((size_t)n + 1);
    if (out == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    memcpy(out, src, (size_t)n);
    out[n] = '\0';
    return out;
}

/* ops: a list of ("set", name, lo, span, var) and ("sql", prepname, params), where
   each parameter is an int (the index of a \set value) or bytes/None (a constant). */
static int compile_ops(Slot *s, PyObject *ops) {
    Py_ssize_t n = PyList_Size(ops);
    if (n <= 0) {
        PyErr_SetString(PyExc_ValueError, "a script needs at least one command");
        return -1;
    }
    s->ops = calloc((size_t)n, sizeof(Op));
    if (s->ops == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    s->nops = (int)n;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *t = PyList_GET_ITEM(ops, i);
        Op *op = &s->ops[i];
        const char *kind;
        if (!PyTuple_Check(t) || PyTuple_GET_SIZE(t) < 3 || (kind = PyUnicode_AsUTF8(PyTuple_GET_ITEM(t, 0))) == NULL) {
            PyErr_SetString(PyExc_ValueError, "malformed op");
            return -1;
        }
        if (strcmp(kind, "set") == 0) {
            PyObject *name;
            long long lo, span;
            int var;
            if (!PyArg_ParseTuple(t, "sULLi", &kind, &name, &lo, &span, &var))
                return -1;
            if (span <= 0 || span > 0xFFFFFFFFLL || var < 0) {
                PyErr_SetString(PyExc_ValueError, "random range out of the fast path's reach");
                return -1;
            }
            op->is_set = 1;
            Py_INCREF(name);
            op->name = name;
            op->lo = lo;
            op->span = span;
            op->var = var;
            if (var + 1 > s->nvals)
                s->nvals = var + 1;
        } else {
            PyObject *prep, *params;
            if (!PyArg_ParseTuple(t, "sSO!", &kind, &prep, &PyTuple_Type, &params))
                return -1;
            if ((op->prepname = dup_bytes(prep)) == NULL)
                return -1;
            op->nparams = (int)PyTuple_GET_SIZE(params);
            op->pvar = calloc((size_t)op->nparams + 1, sizeof(int));
            op->pconst = calloc((size_t)op->nparams + 1, sizeof(char *));
            if (op->pvar == NULL || op->pconst == NULL) {
                PyErr_NoMemory();
                return -1;
            }
            for (int j = 0; j < op->nparams; j++) {
                PyObject *p = PyTuple_GET_ITEM(params, j);
                if (PyLong_Check(p)) {
                    op->pvar[j] = (int)PyLong_AsLong(p);
                    if (op->pvar[j] < 0) {
                        PyErr_SetString(PyExc_ValueError, "negative value index");
                        return -1;
                    }
                    if (op->pvar[j] + 1 > s->nvals)
                        s->nvals = op->pvar[j] + 1;
                } else {
                    op->pvar[j] = -1;
                    if (p != Py_None && (op->pconst[j] = dup_bytes(p)) == NULL)
                        return -1;
                }
            }
            if (op->nparams > s->maxparams)
                s->maxparams = op->nparams;
        }
    }
    if (s->ops[n - 1].is_set) {
        PyErr_SetString(PyExc_ValueError, "a straight script ends with SQL");
        return -1;
    }
    s->vals = calloc((size_t)s->nvals + 1, sizeof(int64_t));
    s->pbuf = calloc((size_t)s->maxparams + 1, sizeof(*s->pbuf));
    s->pvals = calloc((size_t)s->maxparams + 1, sizeof(char *));
    if (s->vals == NULL || s->pbuf == NULL || s->pvals == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

/* -- hand-backs ------------------------------------------------------------------ */

static void free_remove(Loop *self, Slot *s);

/* (slot, why, t_ns, pc, sent, t0, sched, in_tx, info): where the transaction stands, for Python to go on from. */
static int hand_back(Loop *self, Slot *s, int why, int64_t t, PyObject *info) {
    int in_tx = !s->idle;
    if (s->idle)
        free_remove(self, s);
    s->armed = 0;
    PyObject *tup = Py_BuildValue("(OiLiiLLiO)", s->slot, why, (long long)t, s->pc, s->sent, (long long)s->t0,
                                  (long long)s->sched, in_tx, info ? info : Py_None);
    Py_XDECREF(info);
    if (tup == NULL)
        return -1;
    int rc = PyList_Append(self->back, tup);
    Py_DECREF(tup);
    return rc;
}

static int hand_back_lost(Loop *self, Slot *s) {
    const char *msg = PQerrorMessage(s->conn);
    return hand_back(self, s, BACK_LOST, mono_ns(), PyBytes_FromString(msg ? msg : ""));
}

static int hand_back_failed(Loop *self, Slot *s, PGresult *res) {
    PyObject *fields = PyDict_New();
    if (fields == NULL)
        return -1;
    for (const char *f = ERROR_FIELDS; *f; f++) {
        const char *v = PQresultErrorField(res, *f);
        if (v == NULL)
            continue;
        PyObject *key = PyLong_FromLong(*f), *val = PyBytes_FromString(v);
        if (key == NULL || val == NULL || PyDict_SetItem(fields, key, val) < 0) {
            Py_XDECREF(key);
            Py_XDECREF(val);
            Py_DECREF(fields);
            return -1;
        }
        Py_DECREF(key);
        Py_DECREF(val);
    }
    const char *msg = PQresultErrorMessage(res);
    PyObject *info = Py_BuildValue("(yN)", msg ? msg : "", fields);
    if (info == NULL)
        return -1;
    return hand_back(self, s, BACK_FAILED, mono_ns(), info);
}

/* -- the round trip ---------------------------------------------------------------- */

static int grow(int64_t **buf, Py_ssize_t cap) {
    int64_t *grown = realloc(*buf, (size_t)cap * sizeof(int64_t));
    if (grown == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    *buf = grown;
    return 0;
}

/* A transaction that ended at t1: from its start (closed model), or from its schedule (open). */
static int record(Loop *self, Slot *s, int64_t t1) {
    if (s->nlat == s->caplat) {
        Py_ssize_t cap = s->caplat ? s->caplat * 2 : 4096;
        if (grow(&s->lat, cap) < 0 || grow(&s->svc, cap) < 0 || grow(&s->lag, cap) < 0)
            return -1;
        s->caplat = cap;
    }
    if (s->sched) { /* pgbench -R's figures: latency from the schedule, lag to the actual start */
        int64_t latency = (t1 - s->sched) / 1000;
        s->lat[s->nlat] = latency;
        s->svc[s->nlat] = (t1 - s->t0) / 1000;
        s->lag[s->nlat] = s->t0 > s->sched ? (s->t0 - s->sched) / 1000 : 0;
        if (self->limit_ns && latency * 1000 > self->limit_ns)
            s->late++;
    } else {
        s->lat[s->nlat] = (t1 - s->t0) / 1000;
    }
    s->nlat++;
    s->queries += s->sent;
    return 0;
}

static void free_push(Loop *self, Slot *s, int front) {
    if (self->flen == self->fcap)
        return; /* cannot happen: the ring holds every attached descriptor */
    s->idle = 1;
    if (front) {
        self->fhead = (self->fhead + self->fcap - 1) % self->fcap;
        self->free_[self->fhead] = s;
    } else {
        self->free_[(self->fhead + self->flen) % self->fcap] = s;
    }
    self->flen++;
}

static Slot *free_pop(Loop *self) {
    Slot *s = self->free_[self->fhead];
    self->fhead = (self->fhead + 1) % self->fcap;
    self->flen--;
    s->idle = 0;
    return s;
}

static void free_remove(Loop *self, Slot *s) {
    int n = self->flen;
    Slot **keep = self->free_;
    int j = 0;
    for (int i = 0; i < n; i++) {
        Slot *t = keep[(self->fhead + i) % self->fcap];
        if (t != s)
            keep[(self->fhead + j++) % self->fcap] = t;
    }
    self->flen = j;
    s->idle = 0;
}

static int advance(Loop *self, Slot *s);

/* Start every due arrival on a free connection (the open model's dispatch, as Python's _arrivals). */
static int dispatch(Loop *self) {
    if (!self->open)
        return 0;
    int64_t now = mono_ns();
    while (self->alen && self->flen && self->arrivals[self->ahead] <= now) {
        int64_t sched = self->arrivals[self->ahead];
        self->ahead = (self->ahead + 1) % self->acap;
        self->alen--;
        Slot *s = free_pop(self);
        if (self->limit_ns && now - sched > self->limit_ns) {
            s->skipped++; /* pgbench -L: already too late to start */
            free_push(self, s, 1);
            continue;
        }
        s->sched = sched;
        s->t0 = now;
        s->pc = 0;
        s->sent = 0;
        s->fresh = 1;
        if (advance(self, s) < 0)
            return -1;
        now = mono_ns();
    }
    return 0;
}

static int grow_params(Slot *s, int n) {
    if (n <= s->maxparams)
        return 0;
    const char **grown = realloc(s->pvals, (size_t)n * sizeof(char *));
    if (grown == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    s->pvals = grown;
    s->maxparams = n;
    return 0;
}

/* The transaction of a stepped client ended at t1: wait for an arrival, hand back, or restart (1). */
static int stepped_end(Loop *self, Slot *s, int64_t t1) {
    if (self->open && s->restart) {
        if (record(self, s, t1) < 0)
            return -1;
        free_push(self, s, 0);
        return dispatch(self);
    }
    /* a script that sent nothing goes through Python's loop, which takes the next client first */
    if (!(self->restart && s->restart) || s->sent == 0)
        return hand_back(self, s, BACK_DONE, t1, NULL);
    if (record(self, s, t1) < 0)
        return -1;
    s->t0 = t1;
    s->sent = 0;
    s->fresh = 1;
    return 1;
}

/* advance() for a stepped client: step(fresh, stored) -> None at the script's end, an int (an action
   for Python: \sleep, a pipeline, a statement to prepare first), or (how, statement, params, store). */
static int advance_stepped(Loop *self, Slot *s) {
    for (;;) {
        PyObject *stored = s->stored;
        s->stored = NULL;
        PyObject *r = PyObject_CallFunction(s->step, "iO", s->fresh, stored ? stored : Py_None);
        Py_XDECREF(stored);
        s->fresh = 0;
        if (r == NULL) {
            if (!PyErr_ExceptionMatches(PyExc_Exception))
                return -1;
            /* a script error (or a store's): Python counts it as the transaction's failure */
            PyObject *type, *value, *tb;
            PyErr_Fetch(&type, &value, &tb);
            PyErr_NormalizeException(&type, &value, &tb);
            if (tb != NULL && value != NULL)
                PyException_SetTraceback(value, tb);
            Py_XDECREF(type);
            Py_XDECREF(tb);
            return hand_back(self, s, BACK_ERROR, mono_ns(), value);
        }
        if (r == Py_None) {
            Py_DECREF(r);
            int rc = stepped_end(self, s, mono_ns());
            if (rc <= 0)
                return rc;
            continue;
        }
        if (PyLong_Check(r))
            return hand_back(self, s, BACK_STEP, mono_ns(), r);
        int how, store;
        const char *stmt;
        PyObject *params;
        if (!PyArg_ParseTuple(r, "iyOp", &how, &stmt, &params, &store)) {
            Py_DECREF(r);
            return -1;
        }
        int n = 0, ok;
        if (params != Py_None) {
            if (!PyList_Check(params)) {
                Py_DECREF(r);
                PyErr_SetString(PyExc_TypeError, "step(): parameters must be a list");
                return -1;
            }
            n = (int)PyList_GET_SIZE(params);
            if (grow_params(s, n) < 0) {
                Py_DECREF(r);
                return -1;
            }
            for (int j = 0; j < n; j++) {
                PyObject *p = PyList_GET_ITEM(params, j);
                s->pvals[j] = p == Py_None ? NULL : PyBytes_AsString(p);
                if (p != Py_None && s->pvals[j] == NULL) {
                    Py_DECREF(r);
                    return -1;
                }
            }
        }
        s->sent++;
        s->store = store;
        if (how == SEND_PREPARED)
            ok = PQsendQueryPrepared(s->conn, stmt, n, s->pvals, NULL, NULL, 0);
        else if (how == SEND_PARAMS)
            ok = PQsendQueryParams(s->conn, stmt, n, NULL, s->pvals, NULL, NULL, 0);
        else
            ok = PQsendQuery(s->conn, stmt);
        Py_DECREF(r); /* libpq has copied the statement and its parameters */
        if (!ok)
            return hand_back_lost(self, s);
        int f = PQflush(s->conn);
        if (f < 0)
            return hand_back_lost(self, s);
        if (f > 0)
            return hand_back(self, s, BACK_FLUSH, mono_ns(), NULL);
        return 0;
    }
}

/* (fields, last row, ntuples) of a result a stepped client stores, as psycopg-side _store builds them. */
static int keep_result(Slot *s, PGresult *res) {
    int nf = PQnfields(res), nt = PQntuples(res);
    PyObject *fields = PyList_New(nf), *row = NULL, *tup = NULL;
    if (fields == NULL)
        return -1;
    for (int i = 0; i < nf; i++) {
        const char *name = PQfname(res, i);
        PyObject *f = PyUnicode_DecodeUTF8(name ? name : "", name ? (Py_ssize_t)strlen(name) : 0, "replace");
        if (f == NULL)
            goto error;
        PyList_SET_ITEM(fields, i, f);
    }
    if (nt > 0) {
        if ((row = PyList_New(nf)) == NULL)
            goto error;
        for (int i = 0; i < nf; i++) {
            PyObject *v;
            if (PQgetisnull(res, nt - 1, i)) {
                v = Py_None;
                Py_INCREF(v);
            } else {
                v = PyUnicode_DecodeUTF8(PQgetvalue(res, nt - 1, i), PQgetlength(res, nt - 1, i), "replace");
                if (v == NULL)
                    goto error;
            }
            PyList_SET_ITEM(row, i, v);
        }
    } else {
        row = Py_None;
        Py_INCREF(row);
    }
    tup = Py_BuildValue("(NNi)", fields, row, nt);
    fields = row = NULL;
    if (tup == NULL)
        return -1;
    if (s->stored == NULL && (s->stored = PyList_New(0)) == NULL) {
        Py_DECREF(tup);
        return -1;
    }
    int rc = PyList_Append(s->stored, tup);
    Py_DECREF(tup);
    return rc;
error:
    Py_XDECREF(fields);
    Py_XDECREF(row);
    return -1;
}

/* Run the script from s->pc to its next statement and send it; the transaction's end when pc is past the last. */
static int advance(Loop *self, Slot *s) {
    if (s->step != NULL)
        return advance_stepped(self, s);
    if (s->pc >= s->nops) {
        int64_t t1 = mono_ns();
        if (self->open && s->restart) { /* the open model: wait for the next arrival here */
            if (record(self, s, t1) < 0)
                return -1;
            free_push(self, s, 0);
            return dispatch(self);
        }
        if (!(self->restart && s->restart))
            return hand_back(self, s, BACK_DONE, t1, NULL);
        if (record(self, s, t1) < 0)
            return -1;
        s->t0 = t1;
        s->sent = 0;
        s->pc = 0;
    }
    Op *op = &s->ops[s->pc];
    while (op->is_set) {
        PyObject *r = PyObject_CallNoArgs(s->random);
        if (r == NULL)
            return -1;
        double d = PyFloat_AsDouble(r);
        Py_DECREF(r);
        if (d == -1.0 && PyErr_Occurred())
            return -1;
        /* pgbench/expr.py's draw exactly: lo + int(random() * span), span <= 2^32 */
        int64_t v = op->lo + (int64_t)(d * (double)op->span);
        s->vals[op->var] = v;
        PyObject *pv = PyLong_FromLongLong(v);
        if (pv == NULL || PyDict_SetItem(s->vars, op->name, pv) < 0) {
            Py_XDECREF(pv);
            return -1;
        }
        Py_DECREF(pv);
        op = &s->ops[++s->pc];
    }
    for (int j = 0; j < op->nparams; j++) {
        int vi = op->pvar[j];
        if (vi >= 0) {
            snprintf(s->pbuf[j], sizeof(s->pbuf[j]), "%lld", (long long)s->vals[vi]);
            s->pvals[j] = s->pbuf[j];
        } else {
            s->pvals[j] = op->pconst[j];
        }
    }
    s->pc++;
    s->sent++;
    if (!PQsendQueryPrepared(s->conn, op->prepname, op->nparams, s->pvals, NULL, NULL, 0))
        return hand_back_lost(self, s);
    int f = PQflush(s->conn);
    if (f < 0)
        return hand_back_lost(self, s);
    if (f > 0) /* the socket is full: Python watches for it to drain */
        return hand_back(self, s, BACK_FLUSH, mono_ns(), NULL);
    return 0;
}

static int readable(Loop *self, Slot *s) {
    PGconn *c = s->conn;
    if (!PQconsumeInput(c))
        return hand_back_lost(self, s);
    if (s->idle) { /* nothing was asked: a notice was handled, or the server is closing the session */
        PGresult *res;
        while (!PQisBusy(c) && (res = PQgetResult(c)) != NULL) {
            int rc = hand_back_failed(self, s, res);
            PQclear(res);
            return rc;
        }
        return 0;
    }
    while (!PQisBusy(c)) {
        PGresult *res = PQgetResult(c);
        if (res == NULL)
            return advance(self, s); /* the statement is complete */
        int st = PQresultStatus(res);
        if (st > PGRES_TUPLES_OK) { /* Python reads the rest and handles the failure */
            int rc = hand_back_failed(self, s, res);
            PQclear(res);
            return rc;
        }
        if (s->store && keep_result(s, res) < 0) {
            PQclear(res);
            return -1;
        }
        PQclear(res);
    }
    return 0;
}

/* -- the Loop type --------------------------------------------------------------- */

static int loop_init(Loop *self, PyObject *args, PyObject *kw) {
    if (!loaded) {
        PyErr_SetString(PyExc_RuntimeError, "load(libpq path) first");
        return -1;
    }
    if (!PyArg_ParseTuple(args, "i", &self->epfd))
        return -1;
    self->restart = 0;
    return 0;
}

static void loop_dealloc(Loop *self) {
    for (int i = 0; i < self->nbyfd; i++)
        slot_free(self->byfd[i]);
    free(self->byfd);
    free(self->arrivals);
    free(self->free_);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

/* Make room for descriptor fd and put s there, replacing what was attached on that number. */
static int install(Loop *self, int fd, Slot *s) {
    if (fd >= self->nbyfd) {
        int n = fd + 64;
        Slot **grown = realloc(self->byfd, (size_t)n * sizeof(Slot *));
        if (grown == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        memset(grown + self->nbyfd, 0, (size_t)(n - self->nbyfd) * sizeof(Slot *));
        self->byfd = grown;
        self->nbyfd = n;
    }
    if (self->fcap < self->nbyfd) { /* the free ring can hold every descriptor: it never overflows */
        Slot **ring = calloc((size_t)self->nbyfd, sizeof(Slot *));
        if (ring == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        for (int i = 0; i < self->flen; i++)
            ring[i] = self->free_[(self->fhead + i) % self->fcap];
        free(self->free_);
        self->free_ = ring;
        self->fhead = 0;
        self->fcap = self->nbyfd;
    }
    if (self->byfd[fd] != NULL && self->byfd[fd]->idle)
        free_remove(self, self->byfd[fd]);
    slot_free(self->byfd[fd]);
    self->byfd[fd] = s;
    return 0;
}

static Slot *new_slot(int fd, unsigned long long ptr, PyObject *slot, int restart) {
    if (fd < 0 || ptr == 0) {
        PyErr_SetString(PyExc_ValueError, "no connection");
        return NULL;
    }
    Slot *s = calloc(1, sizeof(Slot));
    if (s == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    s->conn = (PGconn *)(uintptr_t)ptr;
    s->fd = fd;
    s->restart = restart;
    Py_INCREF(slot);
    s->slot = slot;
    return s;
}

/* attach's end: s goes in (or is freed when it cannot). */
static PyObject *installed(Loop *self, Slot *s) {
    if (install(self, s->fd, s) < 0) {
        slot_free(s);
        return NULL;
    }
    Py_RETURN_NONE;
}

/* The slot attached on the descriptor passed as arg, in *s (NULL: none); -1 when arg is not an int. */
static int slot_arg(Loop *self, PyObject *arg, Slot **s) {
    int fd = (int)PyLong_AsLong(arg);
    if (fd == -1 && PyErr_Occurred())
        return -1;
    *s = lookup(self, fd);
    return 0;
}

static PyObject *loop_attach(Loop *self, PyObject *args) {
    int fd, restart;
    unsigned long long ptr;
    PyObject *slot, *random, *vars, *ops;
    if (!PyArg_ParseTuple(args, "iKOOO!O!p", &fd, &ptr, &slot, &random, &PyDict_Type, &vars, &PyList_Type, &ops,
                          &restart))
        return NULL;
    Slot *s = new_slot(fd, ptr, slot, restart);
    if (s == NULL)
        return NULL;
    Py_INCREF(random);
    s->random = random;
    Py_INCREF(vars);
    s->vars = vars;
    if (compile_ops(s, ops) < 0) {
        slot_free(s);
        return NULL;
    }
    return installed(self, s);
}

/* attach_stepped(fd, pgconn_ptr, slot, step, restart): any script; step() runs its meta-commands in Python. */
static PyObject *loop_attach_stepped(Loop *self, PyObject *args) {
    int fd, restart;
    unsigned long long ptr;
    PyObject *slot, *step;
    if (!PyArg_ParseTuple(args, "iKOOp", &fd, &ptr, &slot, &step, &restart))
        return NULL;
    if (!PyCallable_Check(step)) {
        PyErr_SetString(PyExc_TypeError, "step must be callable");
        return NULL;
    }
    Slot *s = new_slot(fd, ptr, slot, restart);
    if (s == NULL)
        return NULL;
    Py_INCREF(step);
    s->step = step;
    return installed(self, s);
}

static PyObject *loop_detach(Loop *self, PyObject *arg) {
    Slot *s;
    if (slot_arg(self, arg, &s) < 0)
        return NULL;
    if (s != NULL) {
        if (s->idle)
            free_remove(self, s);
        self->byfd[s->fd] = NULL;
        slot_free(s);
    }
    Py_RETURN_NONE;
}

static Slot *attached_slot(Loop *self, int fd) {
    Slot *s = lookup(self, fd);
    if (s == NULL)
        PyErr_Format(PyExc_KeyError, "descriptor %d is not attached", fd);
    return s;
}

/* advance(s), or dispatch() when s is NULL, outside a poll: the hand-backs it made, as a new list. */
static PyObject *collected(Loop *self, Slot *s) {
    PyObject *back = PyList_New(0);
    if (back == NULL)
        return NULL;
    PyObject *saved = self->back;
    self->back = back;
    int rc = s != NULL ? advance(self, s) : dispatch(self);
    self->back = saved;
    if (rc < 0) {
        Py_DECREF(back);
        return NULL;
    }
    return back;
}

/* start(fd, t0, sched) -> hand-backs: the transaction Python just began runs here (none unless it could not be sent). */
static PyObject *loop_start(Loop *self, PyObject *args) {
    int fd;
    long long t0, sched;
    if (!PyArg_ParseTuple(args, "iLL", &fd, &t0, &sched))
        return NULL;
    Slot *s = attached_slot(self, fd);
    if (s == NULL)
        return NULL;
    if (s->idle)
        free_remove(self, s);
    s->armed = 1;
    s->pc = 0;
    s->sent = 0;
    s->fresh = 0; /* Python began this transaction */
    Py_CLEAR(s->stored);
    s->t0 = t0;
    s->sched = sched;
    /* pc 0 is never past the end, so advance only runs the \sets and sends */
    PyObject *back = collected(self, s);
    if (back == NULL)
        s->armed = 0;
    return back;
}

/* poll(timeout_s) -> ([(fd, events), ...] for descriptors Python serves, [hand-back, ...]).

   Waits up to the timeout, serving armed connections here, and returns as
   soon as anything is for Python (or at the timeout: Python's next timer). */
static PyObject *loop_poll(Loop *self, PyObject *args) {
    double timeout;
    if (!PyArg_ParseTuple(args, "d", &timeout))
        return NULL;
    int64_t deadline = mono_ns() + (int64_t)(timeout > 0 ? timeout * 1e9 : 0);
    PyObject *events = PyList_New(0), *back = PyList_New(0);
    if (events == NULL || back == NULL)
        goto error;
    self->back = back;
    struct epoll_event evs[MAX_EVENTS];
    for (int first = 1;; first = 0) {
        int64_t left = deadline - mono_ns();
        if (left < 0)
            left = 0;
        if (!first && (left == 0 || PyList_GET_SIZE(events) || PyList_GET_SIZE(back)))
            break;
        if (self->open && self->alen && self->flen) {
            if (dispatch(self) < 0)
                goto error;
            if (self->alen && self->flen) {
                int64_t until = self->arrivals[self->ahead] - mono_ns();
                if (until < left)
                    left = until > 0 ? until : 0;
            }
        }
        int n, err = 0;
        Py_BEGIN_ALLOW_THREADS
        if (left > 0 && left < FINE_WAIT_NS) {
            struct pollfd p = {self->epfd, POLLIN, 0};
            struct timespec ts = {0, (long)left};
            n = ppoll(&p, 1, &ts, NULL);
            if (n > 0)
                n = epoll_wait(self->epfd, evs, MAX_EVENTS, 0);
        } else {
            n = epoll_wait(self->epfd, evs, MAX_EVENTS, left ? (int)((left + 999999) / 1000000) : 0);
        }
        if (n < 0)
            err = errno;
        Py_END_ALLOW_THREADS
        if (n < 0) {
            if (err == EINTR) {
                if (PyErr_CheckSignals() < 0)
                    goto error;
                continue;
            }
            errno = err;
            PyErr_SetFromErrno(PyExc_OSError);
            goto error;
        }
        for (int i = 0; i < n; i++) {
            int fd = evs[i].data.fd;
            Slot *s = lookup(self, fd);
            if (s != NULL && s->armed) {
                if (readable(self, s) < 0)
                    goto error;
                continue;
            }
            PyObject *pair = Py_BuildValue("(iI)", fd, evs[i].events);
            if (pair == NULL || PyList_Append(events, pair) < 0) {
                Py_XDECREF(pair);
                goto error;
            }
            Py_DECREF(pair);
        }
    }
    self->back = NULL;
    return Py_BuildValue("(NN)", events, back);
error:
    self->back = NULL;
    Py_XDECREF(events);
    Py_XDECREF(back);
    return NULL;
}

/* take(fd) -> (latencies, service times, schedule lags (native int64 bytes; the last two empty in the closed
   model), queries, skipped, late) of what finished here since the last take, or None. */
static PyObject *loop_take(Loop *self, PyObject *arg) {
    Slot *s;
    if (slot_arg(self, arg, &s) < 0)
        return NULL;
    if (s == NULL)
        Py_RETURN_NONE;
    Py_ssize_t bytes = s->nlat * (Py_ssize_t)sizeof(int64_t), open_bytes = s->sched ? bytes : 0;
    PyObject *out = Py_BuildValue("(y#y#y#LLL)", s->lat ? (const char *)s->lat : "", bytes,
                                  s->svc ? (const char *)s->svc : "", open_bytes, s->lag ? (const char *)s->lag : "",
                                  open_bytes, (long long)s->queries, (long long)s->skipped, (long long)s->late);
    if (out != NULL) {
        s->nlat = 0;
        s->queries = s->skipped = s->late = 0;
    }
    return out;
}

/* t0(fd) -> when the transaction now running here started (perf_counter_ns), 0 while it waits for an
   arrival, None when Python has the connection. */
static PyObject *loop_t0(Loop *self, PyObject *arg) {
    Slot *s;
    if (slot_arg(self, arg, &s) < 0)
        return NULL;
    if (s == NULL || !s->armed)
        Py_RETURN_NONE;
    return PyLong_FromLongLong(s->idle ? 0 : s->t0);
}

/* owner(fd) -> the slot attached on this descriptor, or None. libpq closes a broken connection's socket
   itself, so before Python forgets a slot's descriptor the number may already belong to another's. */
static PyObject *loop_owner(Loop *self, PyObject *arg) {
    Slot *s;
    if (slot_arg(self, arg, &s) < 0)
        return NULL;
    if (s == NULL)
        Py_RETURN_NONE;
    Py_INCREF(s->slot);
    return s->slot;
}

/* open_model(limit_ns): from now on finished transactions wait here for fed arrivals. */
static PyObject *loop_open_model(Loop *self, PyObject *args) {
    long long limit;
    if (!PyArg_ParseTuple(args, "L", &limit))
        return NULL;
    self->open = 1;
    self->limit_ns = limit;
    Py_RETURN_NONE;
}

/* feed(times) -> hand-backs: arrival times (native int64 bytes, ascending) for the free connections here. */
static PyObject *loop_feed(Loop *self, PyObject *arg) {
    char *buf;
    Py_ssize_t n;
    if (PyBytes_AsStringAndSize(arg, &buf, &n) < 0)
        return NULL;
    n /= (Py_ssize_t)sizeof(int64_t);
    if (self->alen + n > self->acap) {
        Py_ssize_t cap = self->acap ? self->acap : 1024;
        while (cap < self->alen + n)
            cap *= 2;
        int64_t *ring = malloc((size_t)cap * sizeof(int64_t));
        if (ring == NULL)
            return PyErr_NoMemory();
        for (Py_ssize_t i = 0; i < self->alen; i++)
            ring[i] = self->arrivals[(self->ahead + i) % self->acap];
        free(self->arrivals);
        self->arrivals = ring;
        self->ahead = 0;
        self->acap = cap;
    }
    const int64_t *times = (const int64_t *)buf;
    for (Py_ssize_t i = 0; i < n; i++)
        self->arrivals[(self->ahead + self->alen++) % self->acap] = times[i];
    return collected(self, NULL);
}

/* park(fd) -> hand-backs: an attached connection with nothing to do waits here for the next arrival. */
static PyObject *loop_park(Loop *self, PyObject *arg) {
    Slot *s;
    if (slot_arg(self, arg, &s) < 0)
        return NULL;
    if (s == NULL)
        return PyErr_Format(PyExc_KeyError, "descriptor %R is not attached", arg);
    if (!s->idle) {
        s->armed = 1;
        s->sched = 0;
        free_push(self, s, 0);
    }
    return collected(self, NULL);
}

/* release() -> the slots waiting here for an arrival, which go back to Python; arrivals not started are dropped. */
static PyObject *loop_release(Loop *self, PyObject *unused) {
    PyObject *out = PyList_New(0);
    if (out == NULL)
        return NULL;
    self->open = 0;
    self->alen = 0;
    while (self->flen) {
        Slot *s = free_pop(self);
        s->armed = 0;
        if (PyList_Append(out, s->slot) < 0) {
            Py_DECREF(out);
            return NULL;
        }
    }
    return out;
}

/* backlog() -> arrivals fed and not started yet. */
static PyObject *loop_backlog(Loop *self, PyObject *unused) {
    return PyLong_FromSsize_t(self->alen);
}

static PyMethodDef loop_methods[] = {
    {"open_model", (PyCFunction)loop_open_model, METH_VARARGS,
     "open_model(limit_ns): finished transactions wait here for the arrivals fed"},
    {"feed", (PyCFunction)loop_feed, METH_O, "feed(times): arrival times (int64 bytes) to start here when due"},
    {"park", (PyCFunction)loop_park, METH_O, "park(fd) -> hand-backs: the connection waits here for an arrival"},
    {"release", (PyCFunction)loop_release, METH_NOARGS, "release() -> the slots waiting for an arrival"},
    {"backlog", (PyCFunction)loop_backlog, METH_NOARGS, "backlog() -> arrivals fed and not started"},
    {"attach", (PyCFunction)loop_attach, METH_VARARGS,
     "attach(fd, pgconn_ptr, slot, random, vars, ops, restart): serve this connection's straight script"},
    {"attach_stepped", (PyCFunction)loop_attach_stepped, METH_VARARGS,
     "attach_stepped(fd, pgconn_ptr, slot, step, restart): serve this connection's round trips; step() the rest"},
    {"detach", (PyCFunction)loop_detach, METH_O, "detach(fd): forget the connection (take its figures first)"},
    {"start", (PyCFunction)loop_start, METH_VARARGS,
     "start(fd, t0, sched) -> hand-backs: run the transaction just begun"},
    {"poll", (PyCFunction)loop_poll, METH_VARARGS, "poll(timeout_s) -> (events for Python, hand-backs)"},
    {"take", (PyCFunction)loop_take, METH_O,
     "take(fd) -> (latencies, service times, lags, queries, skipped, late) since the last take"},
    {"t0", (PyCFunction)loop_t0, METH_O, "t0(fd): start of the transaction running here, or None"},
    {"owner", (PyCFunction)loop_owner, METH_O, "owner(fd): the slot attached on this descriptor, or None"},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef loop_members[] = {
    {"restart", T_INT, offsetof(Loop, restart), 0, "transactions may restart here (closed model, one script)"},
    {"open", T_INT, offsetof(Loop, open), 0, "open model: fed arrivals start here (0 once the run stops)"},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject LoopType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "stormdb_tui.engine._fastloop.Loop",
    .tp_basicsize = sizeof(Loop),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Round trips of straight pgbench scripts over armed connections of one epoll set.",
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)loop_init,
    .tp_dealloc = (destructor)loop_dealloc,
    .tp_methods = loop_methods,
    .tp_members = loop_members,
};

static PyMethodDef module_methods[] = {
    {"load", fl_load, METH_VARARGS, "load(path): use the libpq loaded from path; returns its PQlibVersion()"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT, "_fastloop", "Round trips of straight pgbench scripts in C.", -1, module_methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__fastloop(void) {
    if (PyType_Ready(&LoopType) < 0)
        return NULL;
    PyObject *m = PyModule_Create(&moduledef);
    if (m == NULL)
        return NULL;
    Py_INCREF(&LoopType);
    if (PyModule_AddObject(m, "Loop", (PyObject *)&LoopType) < 0) {
        Py_DECREF(&LoopType);
        Py_DECREF(m);
        return NULL;
    }
    if (PyModule_AddIntConstant(m, "DONE", BACK_DONE) < 0 || PyModule_AddIntConstant(m, "FAILED", BACK_FAILED) < 0 ||
        PyModule_AddIntConstant(m, "LOST", BACK_LOST) < 0 || PyModule_AddIntConstant(m, "FLUSH", BACK_FLUSH) < 0 ||
        PyModule_AddIntConstant(m, "STEP", BACK_STEP) < 0 || PyModule_AddIntConstant(m, "ERROR", BACK_ERROR) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
