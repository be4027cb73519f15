/* Registry v2 pulls with libcurl (loaded on first pull): /v2/ ping, bearer-token (WWW-Authenticate
 * challenge) or basic auth, manifest / index resolution to the platform,
 * config and layers streamed into the store (hashed while written, size
 * enforced, published only when the digest matches), bounded retries on
 * 5xx / 429 / resets with Range resumption, parallel blob downloads. */
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "image/internal.h"
#include "image/libs.h"

#define ACCEPT_MANIFESTS                                                                                               \
  "Accept: " KK_MT_OCI_INDEX ", " KK_MT_OCI_MANIFEST ", " KK_MT_DOCKER_LIST ", " KK_MT_DOCKER_MANIFEST
#define SMALL_BODY_MAX (1u << 20)

#ifndef KUKEON_VERSION
#define KUKEON_VERSION "dev"
#endif

struct reg {
  const struct kk_curl_api *cu;
  const struct kk_crypto_api *cr;
  struct kk_image_store *s;
  const struct kk_pull_opts *o;
  struct kk_image_ref ref;
  char *refstr;
  char *host;   /* what we talk to (registry-1.docker.io for docker.io) */
  char *scheme; /* https or http */
  bool tls_noverify;
  const struct kk_registry_cred *cred;
  int max_retries, delay_ms;
  pthread_mutex_t mu; /* auth header and progress */
  char *auth;         /* "Authorization: ..." or NULL */
  char *realm, *service; /* bearer challenge */
  bool basic;
  struct kk_pull_progress prog;
};

struct resp {
  struct reg *r;
  CURL *c;
  long status;
  char *content_type, *www_auth, *content_range;
  char *body;
  size_t body_len, body_max;
  bool too_big;
  struct kk_blob_writer *w; /* blob sink (200/206 bodies) */
  bool range_sent, first_chunk, range_bad;
  kk_err_t werr;
};

static void resp_clear_headers(struct resp *rs) {
  free(rs->content_type);
  free(rs->www_auth);
  free(rs->content_range);
  rs->content_type = rs->www_auth = rs->content_range = NULL;
}

static void resp_free(struct resp *rs) {
  resp_clear_headers(rs);
  free(rs->body);
  rs->body = NULL;
  rs->body_len = 0;
  kk_error_free(&rs->werr);
}

static char *header_value(const char *line, size_t len, const char *name) {
  size_t n = strlen(name);
  if (len <= n + 1 || strncasecmp(line, name, n) != 0 || line[n] != ':')
    return NULL;
  const char *v = line + n + 1;
  const char *end = line + len;
  while (v < end && (*v == ' ' || *v == '\t'))
    v++;
  while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
    end--;
  return kk_xstrndup(v, (size_t)(end - v));
}

static size_t on_header(char *p, size_t sz, size_t n, void *arg) {
  struct resp *rs = arg;
  size_t len = sz * n;
  if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) {
    resp_clear_headers(rs); /* a new response (after a redirect) */
    rs->first_chunk = true;
    return len;
  }
  char *v;
  if ((v = header_value(p, len, "Content-Type"))) {
    free(rs->content_type);
    rs->content_type = v;
  } else if ((v = header_value(p, len, "WWW-Authenticate"))) {
    free(rs->www_auth);
    rs->www_auth = v;
  } else if ((v = header_value(p, len, "Content-Range"))) {
    free(rs->content_range);
    rs->content_range = v;
  }
  return len;
}

static void progress_add(struct reg *r, int64_t bytes, size_t blobs) {
  pthread_mutex_lock(&r->mu);
  r->prog.done += bytes;
  r->prog.blobs_done += blobs;
  if (r->o->progress)
    r->o->progress(r->o->progress_arg, &r->prog);
  pthread_mutex_unlock(&r->mu);
}

static size_t on_body(char *p, size_t sz, size_t n, void *arg) {
  struct resp *rs = arg;
  size_t len = sz * n;
  long code = 0;
  rs->r->cu->easy_getinfo(rs->c, CURLINFO_RESPONSE_CODE, &code);
  if (code >= 300 && code < 400)
    return len; /* a redirect's own body */
  if (rs->w && (code == 200 || code == 206)) {
    if (rs->first_chunk) {
      rs->first_chunk = false;
      if (code == 200 && kk_image_writer_offset(rs->w) > 0) {
        /* The server ignored our Range: start over. */
        int64_t had = kk_image_writer_offset(rs->w);
        if (kk_image_writer_reset(rs->w, &rs->werr) < 0)
          return 0;
        progress_add(rs->r, -had, 0);
      } else if (code == 206) {
        long long start = -1;
        if (rs->content_range == NULL || sscanf(rs->content_range, "bytes %lld-", &start) != 1 ||
            start != kk_image_writer_offset(rs->w)) {
          rs->range_bad = true;
          return 0;
        }
      }
    }
    if (kk_image_writer_write(rs->w, p, len, &rs->werr) < 0)
      return 0;
    progress_add(rs->r, (int64_t)len, 0);
    return len;
  }
  if (rs->body_len + len > rs->body_max) {
    rs->too_big = true;
    return 0;
  }
  rs->body = kk_xrealloc(rs->body, rs->body_len + len + 1);
  memcpy(rs->body + rs->body_len, p, len);
  rs->body_len += len;
  rs->body[rs->body_len] = '\0';
  return len;
}

static void setup(struct reg *r, CURL *c, const char *url, struct resp *rs) {
  r->cu->easy_reset(c);
  r->cu->easy_setopt(c, CURLOPT_URL, url);
  r->cu->easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  r->cu->easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
  r->cu->easy_setopt(c, CURLOPT_MAXREDIRS, 10L);
#if LIBCURL_VERSION_NUM >= 0x075500
  r->cu->easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  r->cu->easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#endif
  r->cu->easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 30L);
  r->cu->easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
  r->cu->easy_setopt(c, CURLOPT_LOW_SPEED_TIME, 60L);
  r->cu->easy_setopt(c, CURLOPT_USERAGENT, "kukeon/" KUKEON_VERSION);
  r->cu->easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
  r->cu->easy_setopt(c, CURLOPT_HEADERDATA, rs);
  r->cu->easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
  r->cu->easy_setopt(c, CURLOPT_WRITEDATA, rs);
  if (r->tls_noverify) {
    r->cu->easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
    r->cu->easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  if (r->o->ca_file)
    r->cu->easy_setopt(c, CURLOPT_CAINFO, r->o->ca_file);
  rs->c = c;
  rs->r = r;
}

static bool retryable_curl(CURLcode cc) {
  switch (cc) {
  case CURLE_COULDNT_CONNECT:
  case CURLE_RECV_ERROR:
  case CURLE_SEND_ERROR:
  case CURLE_PARTIAL_FILE:
  case CURLE_GOT_NOTHING:
  case CURLE_OPERATION_TIMEDOUT:
  case CURLE_HTTP2:
  case CURLE_HTTP2_STREAM:
  case CURLE_COULDNT_RESOLVE_HOST:
    return true;
  default:
    return false;
  }
}

static bool retryable_status(long s) { return s == 429 || s == 500 || s == 502 || s == 503 || s == 504; }

static void backoff(struct reg *r, int attempt) {
  long ms = (long)r->delay_ms << (attempt < 5 ? attempt : 5);
  if (ms > 5000)
    ms = 5000;
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
  }
}

static char *url_for(struct reg *r, const char *kind, const char *what) {
  return kk_asprintf("%s://%s/v2/%s/%s/%s", r->scheme, r->host, r->ref.path, kind, what);
}

/* ---------------------------------------------------------------- auth */

static char *b64(struct reg *r, const char *s) {
  size_t n = strlen(s);
  char *out = kk_xmalloc(4 * ((n + 2) / 3) + 1);
  r->cr->EncodeBlock((unsigned char *)out, (const unsigned char *)s, (int)n);
  return out;
}

/* Bearer realm="...",service="...",scope="..." */
static int parse_challenge(const char *h, char **scheme, struct kk_map *params) {
  const char *p = h;
  while (*p == ' ')
    p++;
  size_t n = strcspn(p, " ");
  *scheme = kk_xstrndup(p, n);
  p += n;
  while (*p) {
    while (*p == ' ' || *p == ',')
      p++;
    if (!*p)
      break;
    size_t kl = strcspn(p, "=, ");
    cleanup_free char *key = kk_xstrndup(p, kl);
    p += kl;
    if (*p != '=')
      continue;
    p++;
    char *val = kk_xmalloc(strlen(p) + 1);
    size_t vl = 0;
    if (*p == '"') {
      p++;
      while (*p && *p != '"') {
        if (*p == '\\' && p[1])
          p++;
        val[vl++] = *p++;
      }
      if (*p == '"')
        p++;
    } else {
      while (*p && *p != ',' && *p != ' ')
        val[vl++] = *p++;
    }
    val[vl] = '\0';
    for (char *k = key; *k; k++)
      *k = (char)((*k >= 'A' && *k <= 'Z') ? *k + 32 : *k);
    kk_map_set(params, key, val);
    free(val);
  }
  return 0;
}

static int fetch_token(struct reg *r, CURL *c, kk_err_t *err) {
  cleanup_free char *scope = kk_asprintf("repository:%s:pull", r->ref.path);
  char *es = r->cu->easy_escape(c, scope, 0), *ev = r->cu->easy_escape(c, r->service ? r->service : "", 0);
  cleanup_free char *url = kk_asprintf("%s%sscope=%s%s%s", r->realm, strchr(r->realm, '?') ? "&" : "?", es,
                                       r->service ? "&service=" : "", r->service ? ev : "");
  r->cu->free(es);
  r->cu->free(ev);
  struct resp rs = {.body_max = SMALL_BODY_MAX};
  CURLcode cc = CURLE_OK;
  for (int attempt = 0;; attempt++) {
    resp_free(&rs);
    setup(r, c, url, &rs);
    if (r->cred) {
      r->cu->easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
      r->cu->easy_setopt(c, CURLOPT_USERNAME, r->cred->username);
      r->cu->easy_setopt(c, CURLOPT_PASSWORD, r->cred->password);
    }
    cc = r->cu->easy_perform(c);
    r->cu->easy_getinfo(c, CURLINFO_RESPONSE_CODE, &rs.status);
    if (attempt < r->max_retries && ((cc != CURLE_OK && retryable_curl(cc)) || (cc == CURLE_OK && retryable_status(rs.status)))) {
      backoff(r, attempt);
      continue;
    }
    break;
  }
  int rc = 0;
  if (cc != CURLE_OK) {
    rc = kk_error_kind(err, KK_ERR_UNAVAILABLE, 0, "token server %s: %s", r->realm, r->cu->easy_strerror(cc));
  } else if (rs.status == 401 || rs.status == 403) {
    rc = kk_error_kind(err, KK_ERR_PERMISSION, 0, "registry %s: authentication failed%s", r->host,
                       r->cred ? " (check the credentials)" : " (no credentials for this registry)");
  } else if (rs.status != 200) {
    rc = kk_error_kind(err, KK_ERR_UNAVAILABLE, 0, "token server %s answered HTTP %ld", r->realm, rs.status);
  } else {
    json_error_t je;
    json_t *j = json_loadb(rs.body ? rs.body : "", rs.body_len, 0, &je);
    const char *tok = j ? json_string_value(json_object_get(j, "token")) : NULL;
    if (tok == NULL && j)
      tok = json_string_value(json_object_get(j, "access_token"));
    if (tok == NULL || *tok == '\0' || strpbrk(tok, "\r\n")) {
      rc = kk_error_kind(err, KK_ERR_INVALID, 0, "token server %s: no token in the answer", r->realm);
    } else {
      pthread_mutex_lock(&r->mu);
      free(r->auth);
      r->auth = kk_asprintf("Authorization: Bearer %s", tok);
      pthread_mutex_unlock(&r->mu);
    }
    if (j)
      json_decref(j);
  }
  resp_free(&rs);
  return rc;
}

/* React to a 401: set up basic or bearer auth.  Returns 0 when retrying
 * makes sense. */
static int handle_challenge(struct reg *r, CURL *c, const char *www_auth, kk_err_t *err) {
  if (www_auth == NULL)
    return kk_error_kind(err, KK_ERR_PERMISSION, 0, "registry %s: unauthorized (no challenge)", r->host);
  cleanup_free char *scheme = NULL;
  struct kk_map params = {0};
  parse_challenge(www_auth, &scheme, &params);
  int rc = 0;
  if (strcasecmp(scheme, "Basic") == 0) {
    if (r->cred == NULL) {
      rc = kk_error_kind(err, KK_ERR_PERMISSION, 0, "registry %s requires a login: no credentials for it", r->host);
    } else {
      cleanup_free char *up = kk_asprintf("%s:%s", r->cred->username ? r->cred->username : "",
                                          r->cred->password ? r->cred->password : "");
      cleanup_free char *enc = b64(r, up);
      pthread_mutex_lock(&r->mu);
      free(r->auth);
      r->auth = kk_asprintf("Authorization: Basic %s", enc);
      r->basic = true;
      pthread_mutex_unlock(&r->mu);
    }
  } else if (strcasecmp(scheme, "Bearer") == 0) {
    const char *realm = kk_map_get(&params, "realm");
    if (realm == NULL || !(kk_has_prefix(realm, "https://") || kk_has_prefix(realm, "http://"))) {
      rc = kk_error_kind(err, KK_ERR_INVALID, 0, "registry %s: bearer challenge without a usable realm", r->host);
    } else {
      free(r->realm);
      free(r->service);
      r->realm = kk_xstrdup(realm);
      r->service = kk_xstrdup(kk_map_get(&params, "service"));
      rc = fetch_token(r, c, err);
    }
  } else {
    rc = kk_error_kind(err, KK_ERR_INVALID, 0, "registry %s: unsupported authentication scheme \"%s\"", r->host, scheme);
  }
  kk_map_free(&params);
  return rc;
}

/* One request with auth and bounded retries.  rs->status tells the result;
 * transport failures are errors. */
static int request(struct reg *r, CURL *c, const char *url, const char *accept, struct resp *rs, kk_err_t *err) {
  bool reauthed = false;
  for (int attempt = 0;; attempt++) {
    resp_clear_headers(rs);
    free(rs->body);
    rs->body = NULL;
    rs->body_len = 0;
    rs->too_big = rs->range_bad = false;
    rs->first_chunk = true;
    setup(r, c, url, rs);
    struct curl_slist *h = NULL;
    if (accept)
      h = r->cu->slist_append(h, accept);
    pthread_mutex_lock(&r->mu);
    if (r->auth)
      h = r->cu->slist_append(h, r->auth);
    pthread_mutex_unlock(&r->mu);
    char range[64];
    rs->range_sent = false;
    if (rs->w && kk_image_writer_offset(rs->w) > 0) {
      snprintf(range, sizeof(range), "%lld-", (long long)kk_image_writer_offset(rs->w));
      r->cu->easy_setopt(c, CURLOPT_RANGE, range);
      rs->range_sent = true;
    }
    r->cu->easy_setopt(c, CURLOPT_HTTPHEADER, h);
    CURLcode cc = r->cu->easy_perform(c);
    r->cu->slist_free_all(h);
    rs->status = 0;
    r->cu->easy_getinfo(c, CURLINFO_RESPONSE_CODE, &rs->status);
    if (rs->werr) {
      *err = kk_steal(&rs->werr);
      return -1;
    }
    if (rs->too_big)
      return kk_error_kind(err, KK_ERR_INVALID, 0, "%s: answer larger than %zu bytes", url, rs->body_max);
    if (rs->range_bad) {
      /* A 206 for another range than asked: start the blob over. */
      kk_debug("%s: unexpected Content-Range; restarting", url);
      if (kk_image_writer_reset(rs->w, err) < 0)
        return -1;
      if (attempt < r->max_retries)
        continue;
      return kk_error_kind(err, KK_ERR_INVALID, 0, "%s: bad Content-Range", url);
    }
    if (cc != CURLE_OK) {
      if (retryable_curl(cc) && attempt < r->max_retries) {
        kk_debug("%s: %s; retrying", url, r->cu->easy_strerror(cc));
        backoff(r, attempt);
        continue;
      }
      if (cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_SSL_CACERT_BADFILE || cc == CURLE_SSL_CONNECT_ERROR)
        return kk_error_kind(err, KK_ERR_UNAVAILABLE, 0, "%s: %s (use --insecure for a registry without valid TLS)",
                             url, r->cu->easy_strerror(cc));
      return kk_error_kind(err, KK_ERR_UNAVAILABLE, 0, "%s: %s", url, r->cu->easy_strerror(cc));
    }
    if (rs->status == 401 && !reauthed) {
      reauthed = true;
      if (handle_challenge(r, c, rs->www_auth, err) < 0)
        return -1;
      attempt--;
      continue;
    }
    if (retryable_status(rs->status) && attempt < r->max_retries) {
      kk_debug("%s: HTTP %ld; retrying", url, rs->status);
      backoff(r, attempt);
      continue;
    }
    return 0;
  }
}

static int status_error(struct reg *r, const char *what, struct resp *rs, kk_err_t *err) {
  if (rs->status == 401 || rs->status == 403)
    return kk_error_kind(err, KK_ERR_PERMISSION, 0, "%s: access denied by %s (HTTP %ld)", what, r->host, rs->status);
  if (rs->status == 404)
    return kk_error_kind(err, KK_ERR_NOT_FOUND, 0, "%s: not found in %s", what, r->host);
  return kk_error_kind(err, KK_ERR_UNAVAILABLE, 0, "%s: %s answered HTTP %ld", what, r->host, rs->status);
}

/* ---------------------------------------------------------------- ping */

static int ping(struct reg *r, CURL *c, kk_err_t *err) {
  const char *schemes[2] = {"https", r->o->insecure ? "http" : NULL};
  r->tls_noverify = r->o->insecure;
  for (int i = 0; i < 2 && schemes[i]; i++) {
    free(r->scheme);
    r->scheme = kk_xstrdup(schemes[i]);
    cleanup_free char *url = kk_asprintf("%s://%s/v2/", r->scheme, r->host);
    struct resp rs = {.body_max = SMALL_BODY_MAX};
    kk_err_t e = NULL;
    int rc = request(r, c, url, NULL, &rs, &e);
    if (rc < 0 && i == 0 && schemes[1]) {
      kk_debug("%s: %s; trying plain HTTP", url, e->msg);
      kk_error_free(&e);
      resp_free(&rs);
      continue;
    }
    if (rc < 0) {
      *err = e;
      resp_free(&rs);
      return -1;
    }
    long st = rs.status;
    resp_free(&rs);
    if (st == 200 || st == 401) /* 401 after auth setup is handled per request */
      return 0;
    if (st == 404 && i == 0 && schemes[1])
      continue;
    return kk_error_kind(err, KK_ERR_UNAVAILABLE, 0, "%s is not a registry v2 endpoint (HTTP %ld)", url, st);
  }
  return kk_error_kind(err, KK_ERR_UNAVAILABLE, 0, "registry %s unreachable", r->host);
}

/* ----------------------------------------------------------- manifests */

static int get_manifest(struct reg *r, CURL *c, const char *what, const char *want_digest, char **body, size_t *len,
                        char **digest, enum kk_manifest_kind *kind, kk_err_t *err) {
  cleanup_free char *url = url_for(r, "manifests", what);
  struct resp rs = {.body_max = KK_IMAGE_JSON_MAX};
  int rc = request(r, c, url, ACCEPT_MANIFESTS, &rs, err);
  if (rc == 0 && rs.status != 200)
    rc = status_error(r, "manifest", &rs, err);
  if (rc == 0) {
    char *d = NULL;
    if (kk_image_digest(rs.body ? rs.body : "", rs.body_len, &d, err) < 0) {
      resp_free(&rs);
      return -1;
    }
    if (want_digest && strcmp(d, want_digest) != 0) {
      rc = kk_error_kind(err, KK_ERR_INVALID, 0, "manifest %s: registry sent content that hashes to %s", want_digest, d);
      free(d);
    } else if (kk_image_manifest_kind_of(rs.content_type, rs.body ? rs.body : "", rs.body_len, kind, err) < 0) {
      rc = kk_error_wrap(err, "manifest %s", what);
      free(d);
    } else {
      *digest = d;
      *body = rs.body ? kk_steal(&rs.body) : kk_xstrdup("");
      *len = rs.body_len;
    }
  }
  resp_free(&rs);
  return rc;
}

/* --------------------------------------------------------------- blobs */

static int fetch_blob(struct reg *r, CURL *c, const struct kk_descriptor *d, kk_err_t *err) {
  struct kk_blob_writer *w = NULL;
  if (kk_image_writer_open(r->s, d->digest, d->size, &w, err) < 0)
    return -1;
  if (kk_image_writer_present(w)) {
    kk_image_writer_free(w, true);
    progress_add(r, d->size, 1);
    return 0;
  }
  int64_t resumed = kk_image_writer_offset(w);
  if (resumed > 0) {
    kk_debug("resuming %s at %lld bytes", d->digest, (long long)resumed);
    progress_add(r, resumed, 0);
  }
  cleanup_free char *url = url_for(r, "blobs", d->digest);
  struct resp rs = {.body_max = 64u << 10, .w = w};
  int rc = request(r, c, url, NULL, &rs, err);
  if (rc == 0 && rs.status != 200 && rs.status != 206)
    rc = status_error(r, d->digest, &rs, err);
  if (rc == 0)
    rc = kk_image_writer_commit(w, NULL, NULL, err);
  if (rc == 0)
    progress_add(r, 0, 1);
  resp_free(&rs);
  kk_image_writer_free(w, true);
  return rc;
}

struct pool {
  struct reg *r;
  const struct kk_descriptor *blobs;
  size_t n, next;
  kk_err_t err;
};

static void *worker(void *arg) {
  struct pool *p = arg;
  const struct kk_curl_api *cu = p->r->cu;
  CURL *c = cu->easy_init();
  for (;;) {
    pthread_mutex_lock(&p->r->mu);
    size_t i = p->next++;
    bool stop = i >= p->n || p->err != NULL;
    pthread_mutex_unlock(&p->r->mu);
    if (stop || c == NULL)
      break;
    kk_err_t e = NULL;
    if (fetch_blob(p->r, c, &p->blobs[i], &e) < 0) {
      pthread_mutex_lock(&p->r->mu);
      if (p->err == NULL)
        p->err = e;
      else
        kk_error_free(&e);
      pthread_mutex_unlock(&p->r->mu);
    }
  }
  if (c)
    cu->easy_cleanup(c);
  return NULL;
}

static int fetch_blobs(struct reg *r, const struct kk_descriptor *blobs, size_t n, kk_err_t *err) {
  struct pool p = {.r = r, .blobs = blobs, .n = n};
  int want = r->o->parallel > 0 ? r->o->parallel : 4;
  size_t nt = n < (size_t)want ? n : (size_t)want;
  pthread_t *th = kk_xzalloc((nt + 1) * sizeof(pthread_t));
  size_t started = 0;
  for (size_t i = 0; i < nt; i++) {
    if (pthread_create(&th[i], NULL, worker, &p) != 0)
      break;
    started++;
  }
  if (started == 0)
    worker(&p);
  for (size_t i = 0; i < started; i++)
    pthread_join(th[i], NULL);
  free(th);
  if (p.err) {
    *err = p.err;
    return -1;
  }
  return 0;
}

/* --------------------------------------------------------------- pull */

static bool same_registry(const char *a, const char *b) {
  static const char *hub[] = {"docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"};
  bool ah = false, bh = false;
  for (size_t i = 0; i < KK_ARRAY_SIZE(hub); i++) {
    ah |= strcasecmp(a, hub[i]) == 0;
    bh |= strcasecmp(b, hub[i]) == 0;
  }
  return (ah && bh) || strcasecmp(a, b) == 0;
}

static const struct kk_registry_cred *find_cred(const struct kk_pull_opts *o, const char *domain) {
  const struct kk_registry_cred *any = NULL;
  for (size_t i = 0; i < o->n_creds; i++) {
    const struct kk_registry_cred *c = &o->creds[i];
    if (kk_empty(c->server)) {
      if (any == NULL)
        any = c;
      continue;
    }
    const char *s = c->server;
    if (kk_has_prefix(s, "https://"))
      s += 8;
    else if (kk_has_prefix(s, "http://"))
      s += 7;
    cleanup_free char *host = kk_xstrndup(s, strcspn(s, "/"));
    if (same_registry(host, domain))
      return c;
  }
  return any;
}

static void reg_free(struct reg *r) {
  kk_image_ref_free(&r->ref);
  free(r->refstr);
  free(r->host);
  free(r->scheme);
  free(r->auth);
  free(r->realm);
  free(r->service);
  pthread_mutex_destroy(&r->mu);
}

static int pull(struct reg *r, CURL *c, const char *ns, kk_err_t *err) {
  if (ping(r, c, err) < 0)
    return -1;
  struct kk_platform host = {0};
  const struct kk_platform *want = r->o->platform;
  if (want == NULL) {
    kk_image_platform_host(&host);
    want = &host;
  }
  cleanup_free char *body = NULL, *digest = NULL, *index_digest = NULL;
  size_t len = 0;
  enum kk_manifest_kind kind;
  int rc = get_manifest(r, c, r->ref.digest ? r->ref.digest : r->ref.tag, r->ref.digest, &body, &len, &digest, &kind,
                        err);
  if (rc == 0 && kind == KK_MANIFEST_INDEX) {
    struct kk_image_index x;
    rc = kk_image_index_parse(body, len, &x, err);
    if (rc == 0) {
      const struct kk_descriptor *d = kk_image_index_select(&x, want);
      if (d == NULL) {
        cleanup_free char *p = kk_image_platform_string(want);
        struct kk_strv have = {0};
        for (size_t i = 0; i < x.n_manifests; i++)
          if (x.manifests[i].has_platform)
            kk_strv_push_owned(&have, kk_image_platform_string(&x.manifests[i].platform));
        cleanup_free char *list = kk_strv_join(&have, ", ");
        kk_strv_free(&have);
        rc = kk_error_kind(err, KK_ERR_NOT_FOUND, 0, "no manifest for %s (available: %s)", p,
                           *list ? list : "none");
      } else {
        cleanup_free char *child = kk_xstrdup(d->digest);
        index_digest = kk_steal(&digest);
        free(body);
        body = NULL;
        rc = get_manifest(r, c, child, child, &body, &len, &digest, &kind, err);
        if (rc == 0 && kind != KK_MANIFEST_IMAGE)
          rc = kk_error_kind(err, KK_ERR_INVALID, 0, "nested image indexes are not supported");
      }
      kk_image_index_free(&x);
    }
  }
  kk_image_platform_free(&host);
  if (rc < 0)
    return -1;
  struct kk_image_manifest m;
  if (kk_image_manifest_parse(body, len, &m, err) < 0)
    return -1;
  for (size_t i = 0; i < m.n_layers; i++)
    if (!kk_image_layer_media_type_ok(m.layers[i].media_type) || m.layers[i].n_urls > 0) {
      rc = kk_error_kind(err, KK_ERR_INVALID, 0, "layer %s has an unsupported media type \"%s\"", m.layers[i].digest, m.layers[i].media_type ? m.layers[i].media_type : "");
      kk_image_manifest_free(&m);
      return rc;
    }
  /* Everything: config first (small, checked), then the layers. */
  r->prog.total = m.config.size;
  r->prog.blobs_total = m.n_layers + 1;
  for (size_t i = 0; i < m.n_layers; i++)
    r->prog.total += m.layers[i].size;
  rc = fetch_blob(r, c, &m.config, err);
  struct kk_image_config cfg = {0};
  cleanup_free char *cbuf = NULL;
  size_t clen = 0;
  if (rc == 0)
    rc = kk_image_blob_read(r->s, m.config.digest, KK_IMAGE_JSON_MAX, &cbuf, &clen, err);
  if (rc == 0)
    rc = kk_image_config_parse(cbuf, clen, &cfg, err);
  if (rc == 0 && cfg.diff_ids.n != m.n_layers)
    rc = kk_error_kind(err, KK_ERR_INVALID, 0, "config lists %zu diff IDs for %zu layers", cfg.diff_ids.n,
                       m.n_layers);
  kk_image_config_free(&cfg);
  if (rc == 0 && m.n_layers > 0)
    rc = fetch_blobs(r, m.layers, m.n_layers, err);
  kk_image_manifest_free(&m);
  if (rc == 0)
    rc = kk_image_blob_put(r->s, digest, body, len, NULL, err);
  if (rc == 0)
    rc = kk_image_tag(r->s, ns, r->refstr, digest, index_digest, err);
  return rc;
}

int kk_image_pull(struct kk_image_store *s, const char *ns, const char *ref, const struct kk_pull_opts *opts,
                  struct kk_image_info *out, kk_err_t *err) {
  struct kk_pull_opts defaults = {0};
  if (opts == NULL)
    opts = &defaults;
  if (out)
    memset(out, 0, sizeof(*out));
  if (kk_image_namespace_validate(ns, err) < 0)
    return -1;
  struct reg r = {.s = s, .o = opts};
  pthread_mutex_init(&r.mu, NULL);
  if (kk_image_ref_parse(ref, &r.ref, err) < 0) {
    reg_free(&r);
    return -1;
  }
  r.refstr = kk_image_ref_string(&r.ref);
  if (strcmp(r.ref.domain, "kukeon.internal") == 0) {
    int rc = kk_error_kind(err, KK_ERR_NOT_FOUND, 0, "image \"%s\" is local to kukeon and is never pulled", r.refstr);
    reg_free(&r);
    return rc;
  }
  r.host = kk_xstrdup(strcmp(r.ref.domain, "docker.io") == 0 ? "registry-1.docker.io" : r.ref.domain);
  r.cred = find_cred(opts, r.ref.domain);
  r.max_retries = opts->max_retries == 0 ? 4 : opts->max_retries < 0 ? 0 : opts->max_retries;
  r.delay_ms = opts->retry_delay_ms > 0 ? opts->retry_delay_ms : 200;
  r.prog.ref = r.refstr;
  if ((r.cu = kk_image_libcurl(err)) == NULL || (r.cr = kk_image_libcrypto(err)) == NULL) {
    kk_error_wrap(err, "pull %s", r.refstr);
    reg_free(&r);
    return -1;
  }
  if (r.cu->global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    reg_free(&r);
    return kk_error(err, 0, "initialize libcurl");
  }
  int rc = -1;
  CURL *c = r.cu->easy_init();
  int lock = -1;
  if (c == NULL) {
    kk_error(err, ENOMEM, "initialize libcurl");
  } else if ((lock = kk_image_gc_lock(s, false, err)) >= 0) {
    rc = pull(&r, c, ns, err);
    close(lock);
  }
  if (c)
    r.cu->easy_cleanup(c);
  r.cu->global_cleanup();
  if (rc < 0)
    kk_error_wrap(err, "pull %s", r.refstr);
  else if (out)
    rc = kk_image_get(s, ns, r.refstr, out, err);
  reg_free(&r);
  return rc;
}

int kk_image_ensure(struct kk_image_store *s, const char *ns, const char *ref, const struct kk_pull_opts *opts,
                    kk_err_t *err) {
  struct kk_image_info info;
  kk_err_t e = NULL;
  if (kk_image_get(s, ns, ref, &info, &e) == 0) {
    kk_image_info_free(&info);
    return 0;
  }
  if (e->kind != KK_ERR_NOT_FOUND) {
    *err = e;
    return -1;
  }
  kk_error_free(&e);
  return kk_image_pull(s, ns, ref, opts, NULL, err);
}
