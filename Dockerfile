# One image for every application process; docker-compose.yml runs each with its own command:
# api (npm run api), worker (npm run worker), relay (npm run relay), subscribers (npm run subscribers),
# the fake payment provider (npm run payments:fake) and the one-shot migrate (db:migrate, db:seed).
FROM node:20-bookworm-slim

WORKDIR /app

# The processes run through tsx (a dev dependency), so dev dependencies are installed too.
COPY package.json package-lock.json ./
RUN npm ci --include=dev --no-audit --no-fund

COPY . .

# `prisma generate` runs no schema engine, but the CLI insists one is named: any existing file does.
RUN PRISMA_SCHEMA_ENGINE_BINARY=/usr/local/bin/node npx prisma generate \
 && npm run build:workflows

# Set after the build: production refuses the development secrets the build steps fall back to.
ENV NODE_ENV=production
# The development mail transport writes below .stack/mail (a volume in docker-compose.yml).
RUN mkdir -p .stack/mail && chown -R node:node .stack
USER node
CMD ["npm", "run", "api"]
