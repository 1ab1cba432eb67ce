# One image for every pressrun role: api, worker, beat, migrations (`pressrun ...`).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN useradd --create-home --uid 10001 pressrun
WORKDIR /app

COPY pyproject.toml README.md ./
COPY pipeline ./pipeline
COPY workers ./workers
COPY templates ./templates
COPY migrations ./migrations
RUN pip install . && rm -rf /app/*

USER pressrun
WORKDIR /home/pressrun
ENTRYPOINT ["pressrun"]
CMD ["--help"]
