# articlebot's web chat and HTTP API, CPU only. Build and run with compose (compose.yaml):
#   ARTICLEBOT_AUTH=user:password docker compose up --build
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    ARTICLEBOT_DATA_DIR=/data \
    ARTICLEBOT_STORE=/data/store \
    ARTICLEBOT_HOST=0.0.0.0 \
    ARTICLEBOT_PORT=7860 \
    GRADIO_ANALYTICS_ENABLED=False \
    ANONYMIZED_TELEMETRY=False

RUN groupadd --gid 10001 articlebot \
    && useradd --create-home --uid 10001 --gid 10001 --shell /usr/sbin/nologin articlebot \
    && mkdir -p /data \
    && chown articlebot:articlebot /data

WORKDIR /app
COPY pyproject.toml README.md app.py ./
COPY core ./core
COPY bot ./bot
COPY index ./index
# the default install and PDF articles (the chat offers PDF uploads): no training or plotting
RUN pip install --no-cache-dir "./[pdf]"

USER 10001:10001
VOLUME ["/data"]
EXPOSE 7860
HEALTHCHECK --interval=30s --timeout=5s --start-period=90s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:7860/api/v1/health', timeout=4)"]
# binding 0.0.0.0 needs a password: give ARTICLEBOT_AUTH=user:password at run time
CMD ["articlebot", "serve"]
