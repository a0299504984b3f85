# The action server and the web app (one image, two commands): the official rasa-sdk 3.6.2 image
# (the version requirements/app.lock pins and the tests run) plus our locked app environment and
# code, and the chat widget's socket.io client from package-lock.json. Build from the repository root:
#   docker build -f deploy/docker/app.Dockerfile -t meridian/app:3.6.2 .
FROM node:20-bookworm-slim AS widget-assets
WORKDIR /build
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --omit=dev

FROM rasa/rasa-sdk:3.6.2
USER root
WORKDIR /app
# app.lock is resolved for Python 3.10 (as every environment of this project): fail here, clearly,
# rather than halfway through pip on another version.
RUN python -c "import sys; assert sys.version_info[:2] == (3, 10), 'app.lock needs Python 3.10, not ' + sys.version"
COPY requirements/app.lock /tmp/app.lock
RUN pip install --no-cache-dir -r /tmp/app.lock && rm /tmp/app.lock
COPY actions/ /app/actions/
COPY autofinance/ /app/autofinance/
COPY --from=widget-assets /build/node_modules/socket.io-client/dist/ /app/node_modules/socket.io-client/dist/
# Listen on the container's address, not only its loopback (the processes' default).
ENV PYTHONPATH=/app \
    ACTION_SERVER_HOST=0.0.0.0 \
    WEB_HOST=0.0.0.0
USER 1001
EXPOSE 5055 8080
ENTRYPOINT []
CMD ["python", "-m", "actions.server"]
