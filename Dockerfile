# syntax=docker/dockerfile:1
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY cogs ./cogs
COPY simulator ./simulator
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim
RUN groupadd --system --gid 10001 videobot \
 && useradd --system --uid 10001 --gid videobot --home-dir /app --shell /usr/sbin/nologin videobot
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
WORKDIR /app
RUN mkdir -p /data && chown videobot:videobot /data
# Everything the bot writes goes to the volume: /app is read-only for the bot's user.
# .env.example leaves these unset so that `--env-file .env` does not replace them.
ENV DATABASE_PATH=/data/bot.sqlite3 \
    SANDBOX_DIR=/data/sandbox \
    PYTHONUNBUFFERED=1
VOLUME ["/data"]
USER videobot:videobot
EXPOSE 8080
# Healthy while GET /healthz answers 2xx on the bot's HTTP port (HTTP_PORT, default 8080).
# Python's urllib, because the slim image has no curl; urlopen raises, so exits 1, otherwise.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % (os.environ.get('HTTP_PORT') or '8080'), timeout=4)"]
CMD ["python", "-m", "bot"]
