# orderflow API / worker / migrate image: `docker build -t orderflow .`
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
# Runtime dependencies only (no dev/test extras: no Temporal CLI, test server or embedded PostgreSQL).
# Dependencies first so code edits do not invalidate the (slow) dependency layer.
COPY pyproject.toml ./
RUN mkdir -p models adapters db activities workflows api migrations \
    && pip install . && pip uninstall -y orderflow
COPY . .
RUN pip install --no-deps . \
    && useradd --system --uid 10001 --home-dir /app orderflow \
    && mkdir -p /var/lib/orderflow && chown orderflow /var/lib/orderflow
# Local state (e.g. the stand-in email outbox) must not land in site-packages.
ENV STATE_DIR=/var/lib/orderflow

USER orderflow
EXPOSE 8000
CMD ["orderflow", "api"]
