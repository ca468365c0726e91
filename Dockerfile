# syntax=docker/dockerfile:1
# Portcullis in a container: built in the Rust image, run from a slim Debian with only
# what the binary links (OpenSSL 3, through sqlx/lettre/josekit) and CA certificates.
#
#   docker build -t portcullis .
#   docker run -p 8080:8080 -e PORTCULLIS_ISSUER=https://id.example.com portcullis
#
# State (the SQLite database, the mail outbox) lives in /var/lib/portcullis, a volume;
# with PostgreSQL nothing needs to persist and the root filesystem can be read-only.

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
# The registry and build output are cached between builds (BuildKit), not kept in a layer.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin portcullis \
    && install -m 0755 target/release/portcullis /usr/local/bin/portcullis

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates libssl3 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/portcullis --shell /usr/sbin/nologin portcullis \
    && install -d -o portcullis -g portcullis -m 0750 /var/lib/portcullis
COPY --from=build /usr/local/bin/portcullis /usr/local/bin/portcullis
USER 10001:10001
WORKDIR /var/lib/portcullis
VOLUME ["/var/lib/portcullis"]
ENV PORTCULLIS_BIND=0.0.0.0:8080 \
    PORTCULLIS_DATABASE_URL=sqlite:///var/lib/portcullis/portcullis.db \
    PORTCULLIS_MAIL__OUTBOX_DIR=/var/lib/portcullis/outbox \
    PORTCULLIS_LOG__FORMAT=json
EXPOSE 8080
# No curl in a slim image: the binary asks its own /healthz (at PORTCULLIS_BIND).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["/usr/local/bin/portcullis", "health"]
# SIGTERM drains the requests in flight (http.shutdown_timeout, 10s) before exiting.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/portcullis"]
CMD ["serve"]
