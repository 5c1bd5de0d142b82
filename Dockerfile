# The coordinator worker image, used by docker-compose.yml (broker + worker + standby).
FROM python:3.11-slim

WORKDIR /app
COPY pyproject.toml README.md ./
COPY coordinator coordinator
COPY topics topics
RUN pip install --no-cache-dir .

# State (RocksDB) lives in a volume; the HTTP endpoint listens on all interfaces in a container.
ENV COORDINATOR_DATA_DIR=/data \
    COORDINATOR_HTTP_HOST=0.0.0.0 \
    COORDINATOR_HTTP_PORT=6066 \
    PYTHONUNBUFFERED=1
VOLUME ["/data"]
EXPOSE 6066

ENTRYPOINT ["coordinator"]
CMD ["worker"]
