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
CMD ["python", "-m", "bot"]
