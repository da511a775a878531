/*
 * Channel participation REST API (Fabric's osnadmin API, wire.md §8) on the
 * admin HTTP(S) server:
 *   GET    /participation/v1/channels            list
 *   GET    /participation/v1/channels/{channel}  one channel
 *   POST   /participation/v1/channels            join: multipart/form-data
 *                                                with a "config-block" part
 *   DELETE /participation/v1/channels/{channel}  remove
 * Errors answer {"error": "..."}. Handlers run on the server's worker pool
 * (join and remove touch the disk and the consensus loop).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "orderer_int.h"
#include "weft/log.h"
#include "weft/ops.h"

WEFT_LOGGER(lg_part, "orderer.admin");

#define BASE "/participation/v1/channels"

static int reply_json(struct weft_http_response *resp, int status, json_t *j)
{
    if (j == NULL) {
        return WEFT_ENOMEM;
    }
    size_t n = json_dumpb(j, NULL, 0, JSON_COMPACT);
    char *s = n > 0 ? weft_malloc(n) : NULL;
    if (s == NULL) {
        json_decref(j);
        return WEFT_ENOMEM;
    }
    n = json_dumpb(j, s, n, JSON_COMPACT);
    json_decref(j);
    int rc = weft_http_response_set(resp, status, "application/json", s, n);
    weft_free(s);
    return rc;
}

static int reply_error(struct weft_http_response *resp, int status, const char *msg)
{
    return reply_json(resp, status, json_pack("{s:s}", "error", msg));
}

static json_t *channel_info(struct orderer_chain *ch)
{
    char url[300];
    snprintf(url, sizeof(url), BASE "/%s", orderer__chain_id(ch));
    return json_pack("{s:s,s:s,s:s,s:s,s:I}", "name", orderer__chain_id(ch), "url", url,
                     "consensusRelation", "consenter", "status", "active", "height",
                     (json_int_t)orderer__chain_height(ch));
}

static int list_channels(struct weft_orderer *o, struct weft_http_response *resp)
{
    struct orderer_chain **chs = NULL;
    size_t n = 0;
    if (orderer__list(o, &chs, &n) != 0) {
        return WEFT_ENOMEM;
    }
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        char url[300];
        snprintf(url, sizeof(url), BASE "/%s", orderer__chain_id(chs[i]));
        json_array_append_new(arr, json_pack("{s:s,s:s}", "name", orderer__chain_id(chs[i]),
                                             "url", url));
        orderer__chain_unref(chs[i]);
    }
    weft_free(chs);
    return reply_json(resp, 200, json_pack("{s:n,s:o}", "systemChannel", "channels", arr));
}

/* Finds the bytes of the multipart part named `name`. */
static int multipart_part(const char *content_type, const uint8_t *body, size_t len,
                          const char *name, const uint8_t **part, size_t *part_len)
{
    const char *b = content_type != NULL ? strstr(content_type, "boundary=") : NULL;
    if (b == NULL || strncmp(content_type, "multipart/form-data", 19) != 0) {
        return WEFT_EPARSE;
    }
    b += 9;
    char boundary[128];
    size_t bl = 0;
    boundary[bl++] = '-';
    boundary[bl++] = '-';
    if (*b == '"') {
        b++;
    }
    while (*b != '\0' && *b != '"' && *b != ';' && bl < sizeof(boundary) - 1) {
        boundary[bl++] = *b++;
    }
    boundary[bl] = '\0';
    char want[160];
    snprintf(want, sizeof(want), "name=\"%s\"", name);
    const uint8_t *p = memmem(body, len, boundary, bl);
    while (p != NULL) {
        const uint8_t *hdr = p + bl;
        size_t left = len - (size_t)(hdr - body);
        if (left >= 2 && hdr[0] == '-' && hdr[1] == '-') {
            break; /* closing boundary */
        }
        const uint8_t *end_hdr = memmem(hdr, left, "\r\n\r\n", 4);
        if (end_hdr == NULL) {
            break;
        }
        const uint8_t *data = end_hdr + 4;
        const uint8_t *next = memmem(data, len - (size_t)(data - body), boundary, bl);
        if (next == NULL) {
            break;
        }
        bool match = memmem(hdr, (size_t)(end_hdr - hdr), want, strlen(want)) != NULL;
        if (match) {
            size_t dl = (size_t)(next - data);
            if (dl >= 2 && data[dl - 2] == '\r' && data[dl - 1] == '\n') {
                dl -= 2;
            }
            *part = data;
            *part_len = dl;
            return 0;
        }
        p = next;
    }
    return WEFT_ENOTFOUND;
}

static int join(struct weft_orderer *o, const struct weft_http_request *req,
                struct weft_http_response *resp)
{
    size_t len = 0;
    const uint8_t *body = weft_http_request_body(req, &len);
    const uint8_t *blk = NULL;
    size_t blk_len = 0;
    int rc = multipart_part(weft_http_request_header(req, "Content-Type"), body, len,
                            "config-block", &blk, &blk_len);
    if (rc != 0) {
        return reply_error(resp, 400,
                           rc == WEFT_EPARSE
                               ? "cannot parse request: content type must be multipart/form-data"
                               : "cannot parse request: form does not contain a config-block "
                                 "part");
    }
    struct orderer_chain *ch = NULL;
    struct weft_err err = {0};
    rc = orderer__join(o, blk, blk_len, &ch, &err);
    if (rc != 0) {
        WEFT_WARN(lg_part, "join from %s refused: %s", weft_http_request_peer(req), err.msg);
        int status = rc == WEFT_EEXIST        ? 405
                     : rc == WEFT_EUNSUPPORTED ? 501
                     : rc == WEFT_ENOMEM || rc == WEFT_EIO ? 500
                                                           : 400;
        if (rc == WEFT_EEXIST) {
            rc = weft_http_response_header(resp, "Allow", "GET, DELETE");
            (void)rc;
        }
        return reply_error(resp, status, err.msg);
    }
    WEFT_INFO(lg_part, "joined channel %s (requested by %s)", orderer__chain_id(ch),
              weft_http_request_peer(req));
    json_t *info = channel_info(ch);
    char loc[300];
    snprintf(loc, sizeof(loc), BASE "/%s", orderer__chain_id(ch));
    orderer__chain_unref(ch);
    rc = weft_http_response_header(resp, "Location", loc);
    if (rc != 0) {
        json_decref(info);
        return rc;
    }
    return reply_json(resp, 201, info);
}

static int handler(void *ctx, const struct weft_http_request *req,
                   struct weft_http_response *resp)
{
    struct weft_orderer *o = ctx;
    const char *method = weft_http_request_method(req);
    const char *path = weft_http_request_path(req);
    const char *rest = path + strlen(BASE);
    if (*rest == '/' && rest[1] == '\0') {
        rest++;
    }
    if (*rest == '\0') {
        if (strcmp(method, "GET") == 0) {
            return list_channels(o, resp);
        }
        if (strcmp(method, "POST") == 0) {
            return join(o, req, resp);
        }
        int rc = weft_http_response_header(resp, "Allow", "GET, POST");
        (void)rc;
        return reply_error(resp, 405, "invalid request method");
    }
    if (*rest != '/') {
        return reply_error(resp, 404, "not found");
    }
    const char *id = rest + 1;
    if (strchr(id, '/') != NULL || *id == '\0') {
        return reply_error(resp, 404, "not found");
    }
    if (strcmp(method, "GET") == 0) {
        struct orderer_chain *ch = orderer__lookup(o, id);
        if (ch == NULL) {
            return reply_error(resp, 404, "channel does not exist");
        }
        json_t *j = channel_info(ch);
        orderer__chain_unref(ch);
        return reply_json(resp, 200, j);
    }
    if (strcmp(method, "DELETE") == 0) {
        struct weft_err err = {0};
        int rc = orderer__remove(o, id, &err);
        if (rc == WEFT_ENOTFOUND) {
            return reply_error(resp, 404, "channel does not exist");
        }
        if (rc != 0) {
            return reply_error(resp, 500, err.msg);
        }
        WEFT_INFO(lg_part, "removed channel %s (requested by %s)", id,
                  weft_http_request_peer(req));
        weft_http_response_status(resp, 204);
        return 0;
    }
    int rc = weft_http_response_header(resp, "Allow", "GET, DELETE");
    (void)rc;
    return reply_error(resp, 405, "invalid request method");
}

int orderer__participation_register(struct weft_orderer *o, struct weft_http_server *srv,
                                    struct weft_err *err)
{
    unsigned flags = WEFT_HTTP_ROUTE_PREFIX | WEFT_HTTP_ROUTE_BLOCKING;
    if (weft_http_server_tls(srv)) {
        flags |= WEFT_HTTP_ROUTE_REQUIRE_CERT;
    }
    int rc = weft_http_route(srv, NULL, BASE, flags, handler, o);
    if (rc != 0) {
        return weft_err_set(err, rc, "register participation routes: %s", weft_strerror(rc));
    }
    return 0;
}
