# One image for every service; the command picks the service (see docker-compose.yml).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    GRIEVANCE_HTTP_HOST=0.0.0.0 GRIEVANCE_CONFIG_DIR=/app/config
WORKDIR /app
# Exactly the pinned runtime dependencies, every file checked against its sha256 (bin/lock writes the lock).
COPY requirements-runtime.lock ./
RUN pip install --require-hashes -r requirements-runtime.lock
COPY pyproject.toml README.md ./
COPY schemas schemas
COPY services services
RUN pip install --no-deps -e .
COPY migrations migrations
COPY config config
RUN useradd --system --uid 10001 grievance
USER grievance
CMD ["grievance", "--help"]
