# The operator's image: built in Rust's official image, run on distroless (glibc, CA
# certificates, no shell) as the non-root user the chart sets (runAsUser 65532).
# CI runs the same `cargo build` line (tests/run reads it from here), so this step is known to
# build on every commit.

FROM docker.io/library/rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p municipio-operator --bin municipio

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=build /src/target/release/municipio /usr/local/bin/municipio
# distroless' nonroot user; the chart's runAsUser must match (a test checks it).
USER 65532:65532
EXPOSE 8080 8443
ENTRYPOINT ["/usr/local/bin/municipio"]
CMD ["run"]
