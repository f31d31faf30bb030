# ragc on a Hugging Face Space (sdk: docker, app_port: 7860), or any Docker host.
#   docker build -t ragc . && docker run -p 7860:7860 -v ragc-data:/data ragc
# The Space sets SPACE_ID, which selects the hf_spaces profile (config/hf_spaces.yaml): Hugging
# Face hosted models with the Space's HF_TOKEN secret, else BM25 + extractive answers. Data goes to
# /data/ragc (the Space's persistent storage) or, when /data is not writable, to $HOME/data.
# Access: the server listens on 0.0.0.0, so uploads and deletions need RAGC_API_KEY (set it as a
# Space secret; the web page asks the owner for it); without it they are refused (403). Questions,
# search, the document list and cited files stay open to visitors (RAGC_PRIVATE=1 closes them too).
# RAGC_MAX_UPLOADS_MB caps the uploads directory (default 1024).
# scripts/space-smoke.sh runs this image's CMD (read from this file) as a non-root user.

# ---- build stage: the Debian build dependencies and a CMake build of the ragc binary
FROM debian:bookworm AS build
ENV DEBIAN_FRONTEND=noninteractive
WORKDIR /src
COPY scripts/install-deps.sh scripts/install-deps.sh
# --build-only: the compilers and -dev libraries, not the test tools (browser, wrk).
RUN bash scripts/install-deps.sh --build-only && rm -rf /var/lib/apt/lists/*
COPY . .
RUN cmake -B build -S . -DCMAKE_BUILD_TYPE=RelWithDebInfo \
 && cmake --build build --target ragc -j"$(nproc)" \
 && strip --strip-debug build/ragc \
 && build/ragc version

# ---- run stage: only the shared libraries the binary links (checked with ldd below)
FROM debian:bookworm-slim
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update -q \
 && apt-get install -y -q --no-install-recommends \
      ca-certificates libcurl4 libjansson4 libyaml-0-2 libsqlite3-0 libgumbo1 libutf8proc2 \
      libstemmer0d libmicrohttpd12 libopenblas0 libxxhash0 libharfbuzz0b libfreetype6 \
      libjpeg62-turbo libopenjp2-7 libjbig2dec0 libpng16-16 libbrotli1 libmujs2 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/build/ragc /usr/local/bin/ragc
# Fail the build, naming the library, if a runtime library is missing.
RUN if ldd /usr/local/bin/ragc | grep 'not found'; then exit 1; fi && ragc version

# Spaces run the container as UID 1000.
RUN useradd -m -u 1000 user
USER user
ENV HOME=/home/user \
    PATH=/home/user/.local/bin:/usr/local/bin:/usr/bin:/bin \
    RAGC_DATA_DIR=/data/ragc
WORKDIR /home/user
EXPOSE 7860
# PORT is for local runs and scripts/space-smoke.sh; a Space uses 7860 (app_port).
# Keep this CMD on one line: scripts/space-smoke.sh parses and runs it.
CMD ["sh", "-c", "if ! mkdir -p \"$RAGC_DATA_DIR\" 2>/dev/null || ! [ -w \"$RAGC_DATA_DIR\" ]; then echo \"ragc: $RAGC_DATA_DIR is not writable; using $HOME/data (not persistent)\" >&2; export RAGC_DATA_DIR=\"$HOME/data\"; mkdir -p \"$RAGC_DATA_DIR\" || exit 1; fi; exec ragc serve --host 0.0.0.0 --port \"${PORT:-7860}\""]
