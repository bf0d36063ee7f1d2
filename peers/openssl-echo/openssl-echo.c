/*
 * openssl-echo: the QUIC echo server that ossl-guide-quic-server-non-block(7)
 * teaches, on OpenSSL's QUIC server API, written for this project from the
 * guide's description. It is a peer for comparison: it keeps the guide's
 * structure, fragile parts included, so users see what the harness says
 * about the server the guide teaches.
 *
 *   openssl-echo PORT CHAIN KEY
 *
 * One connection at a time: accept (the handshake is done by then), read
 * the stream into an 8192-byte buffer until the end of the stream, echo it
 * with SSL_write_ex2(SSL_WRITE_FLAG_CONCLUDE), SSL_shutdown, free, and wait
 * for the next client. As in the guide, any failure leaves the server loop
 * and the process exits with status 1; a successful read with nothing
 * pending is taken as the end of the stream.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

/* The two ALPNs the guide accepts, in wire format. */
static const unsigned char accepted_alpns[] = {
    8, 'h', 't', 't', 'p', '/', '1', '.', '0',
    10, 'h', 'q', '-', 'i', 'n', 't', 'e', 'r', 'o', 'p',
};

static int choose_alpn(SSL *ssl, const unsigned char **out,
                       unsigned char *out_len, const unsigned char *in,
                       unsigned int in_len, void *arg)
{
    (void)ssl;
    (void)arg;
    if (SSL_select_next_proto((unsigned char **)out, out_len, accepted_alpns,
                              sizeof(accepted_alpns), in, in_len)
        == OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_OK;
    return SSL_TLSEXT_ERR_ALERT_FATAL;
}

/* Blocks in select() until OpenSSL can make progress on `ssl`. */
static void wait_for_activity(SSL *ssl)
{
    int fd = SSL_get_fd(ssl), infinite = 1;
    fd_set readable, writable;
    struct timeval tv, *timeout = NULL;

    FD_ZERO(&readable);
    FD_ZERO(&writable);
    if (SSL_net_write_desired(ssl))
        FD_SET(fd, &writable);
    if (SSL_net_read_desired(ssl))
        FD_SET(fd, &readable);
    if (SSL_get_event_timeout(ssl, &tv, &infinite) && !infinite)
        timeout = &tv;
    select(fd + 1, &readable, &writable, NULL, timeout);
}

/*
 * What an I/O result means, as the guide's server loop reads it:
 * 1 try again (after waiting), 0 end of stream, -1 failure.
 */
static int io_result(SSL *ssl, int ret)
{
    switch (SSL_get_error(ssl, ret)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
        wait_for_activity(ssl);
        return 1;
    case SSL_ERROR_NONE:        /* the guide's loop: "reached end of stream" */
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    case SSL_ERROR_SSL:
        switch (SSL_get_stream_read_state(ssl)) {
        case SSL_STREAM_STATE_RESET_REMOTE:
            fprintf(stderr, "stream reset by the client\n");
            break;
        case SSL_STREAM_STATE_CONN_CLOSED:
            fprintf(stderr, "connection closed\n");
            break;
        default:
            fprintf(stderr, "stream failure\n");
            break;
        }
        return -1;
    default:
        return -1;
    }
}

static int serve(SSL_CTX *ctx, int fd)
{
    SSL *listener = NULL, *conn = NULL;
    unsigned char buf[8192];
    size_t total_read, nread, total_written;
    int eof, ret;

    if ((listener = SSL_new_listener(ctx, 0)) == NULL
        || !SSL_set_fd(listener, fd)
        || !SSL_set_blocking_mode(listener, 0)
        || !SSL_listen(listener))
        goto err;

    for (;;) {
        ERR_clear_error();
        printf("Waiting for connection\n");
        fflush(stdout);
        while ((conn = SSL_accept_connection(listener, 0)) == NULL)
            wait_for_activity(listener);
        printf("Accepted new connection\n");
        fflush(stdout);

        total_read = 0;
        eof = 0;
        while (!eof) {
            ret = SSL_read_ex(conn, buf + total_read, sizeof(buf) - total_read,
                              &nread);
            total_read += nread;
            if (total_read >= sizeof(buf)) {
                fprintf(stderr, "input does not fit in %zu bytes\n", sizeof(buf));
                goto err;
            }
            switch (io_result(conn, ret)) {
            case 1:
                continue;
            case 0:
                if (!SSL_has_pending(conn))
                    eof = 1;
                break;
            default:
                fprintf(stderr, "failed reading the stream\n");
                goto err;
            }
        }

        while (!SSL_write_ex2(conn, buf, total_read, SSL_WRITE_FLAG_CONCLUDE,
                              &total_written)) {
            if (io_result(conn, 0) == 1)
                continue;
            fprintf(stderr, "failed writing the echo\n");
            goto err;
        }

        while ((ret = SSL_shutdown(conn)) != 1) {
            if (ret < 0 && io_result(conn, ret) == 1)
                continue;
        }
        SSL_free(conn);
        conn = NULL;
    }

err:
    ERR_print_errors_fp(stderr);
    SSL_free(conn);
    SSL_free(listener);
    return 0;
}

int main(int argc, char **argv)
{
    SSL_CTX *ctx = NULL;
    struct sockaddr_in sa;
    unsigned long port;
    char *end;
    int fd = -1, ok;

    if (argc != 4) {
        fprintf(stderr, "usage: %s PORT CHAIN KEY\n", argv[0]);
        return 2;
    }
    port = strtoul(argv[1], &end, 10);
    if (*argv[1] == '\0' || *end != '\0' || port == 0 || port > 65535) {
        fprintf(stderr, "%s: not a port number\n", argv[1]);
        return 2;
    }

    if ((ctx = SSL_CTX_new(OSSL_QUIC_server_method())) == NULL)
        goto fail;
    if (SSL_CTX_use_certificate_chain_file(ctx, argv[2]) <= 0) {
        fprintf(stderr, "cannot load the certificate chain %s\n", argv[2]);
        goto fail;
    }
    if (SSL_CTX_use_PrivateKey_file(ctx, argv[3], SSL_FILETYPE_PEM) <= 0) {
        fprintf(stderr, "cannot load the key %s\n", argv[3]);
        goto fail;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_alpn_select_cb(ctx, choose_alpn, NULL);

    if ((fd = socket(AF_INET, SOCK_DGRAM, IPPROTO_UDP)) < 0) {
        fprintf(stderr, "cannot create a socket: %s\n", strerror(errno));
        goto fail;
    }
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((unsigned short)port);
    if (bind(fd, (const struct sockaddr *)&sa, sizeof(sa)) < 0) {
        fprintf(stderr, "cannot bind to port %lu: %s\n", port, strerror(errno));
        goto fail;
    }
    if (BIO_socket_nbio(fd, 1) <= 0) {
        fprintf(stderr, "cannot make the socket nonblocking\n");
        goto fail;
    }

    ok = serve(ctx, fd);
    SSL_CTX_free(ctx);
    BIO_closesocket(fd);
    return ok ? 0 : 1;

fail:
    ERR_print_errors_fp(stderr);
    SSL_CTX_free(ctx);
    if (fd >= 0)
        BIO_closesocket(fd);
    return 1;
}
