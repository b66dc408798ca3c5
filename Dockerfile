# One image, two subcommands: the chart runs `webhook` (the default CMD) and the webhook
# injects the same image into agent pods with args ["sidecar"].

# Build stage: compile TypeScript, then keep only the production dependencies.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY cli ./cli
COPY lib ./lib
COPY memory ./memory
COPY sidecar ./sidecar
COPY webhook ./webhook
COPY certs ./certs
COPY ops ./ops
COPY scripts/bundle.mjs scripts/bundle-options.mjs ./scripts/
RUN npm run build && npm prune --omit=dev

# Final stage: Node runtime only. npm, npx, yarn and corepack are removed, so there is no
# package manager or build tool left; node stays on PATH because the sidecar's exec probes
# run `node -e`.
FROM node:20-bookworm-slim
RUN rm -rf /usr/local/lib/node_modules /usr/local/bin/npm /usr/local/bin/npx \
      /usr/local/bin/corepack /usr/local/bin/yarn /usr/local/bin/yarnpkg /opt/yarn-*
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# The node image's unprivileged user; the chart also runs it as uid 1000.
USER 1000:1000
EXPOSE 8443 8790
ENTRYPOINT ["node", "/app/dist/cli/main.js"]
CMD ["webhook"]
