-- CloudFlow twin schema. Times are twin time (epoch seconds, double precision) unless noted.
CREATE TABLE IF NOT EXISTS workspaces (
    id            text PRIMARY KEY,
    name          text NOT NULL,
    tier          text NOT NULL CHECK (tier IN ('free', 'standard', 'premium', 'enterprise')),
    custom_limits jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at    double precision NOT NULL
);

CREATE TABLE IF NOT EXISTS users (
    email         text PRIMARY KEY,
    password_hash text NOT NULL,
    workspace_id  text NOT NULL REFERENCES workspaces(id),
    roles         text[] NOT NULL,
    created_at    double precision NOT NULL
);

CREATE TABLE IF NOT EXISTS service_accounts (
    id           text PRIMARY KEY,
    name         text NOT NULL,
    workspace_id text NOT NULL REFERENCES workspaces(id),
    scopes       text[] NOT NULL,
    created_by   text NOT NULL,
    created_at   double precision NOT NULL
);

CREATE TABLE IF NOT EXISTS access_requests (
    id            text PRIMARY KEY,
    workspace_id  text NOT NULL REFERENCES workspaces(id),
    user_email    text NOT NULL,
    resource      text NOT NULL,
    justification text NOT NULL,
    status        text NOT NULL DEFAULT 'pending',
    created_at    double precision NOT NULL
);

CREATE TABLE IF NOT EXISTS workflows (
    id             text PRIMARY KEY,
    workspace_id   text NOT NULL REFERENCES workspaces(id),
    name           text NOT NULL,
    environment    text NOT NULL DEFAULT 'development',
    timeout_s      integer NOT NULL DEFAULT 3600,
    timeout_reason text,
    retry_policy   jsonb NOT NULL,
    steps          jsonb NOT NULL,
    trigger        jsonb,
    created_by     text NOT NULL,
    created_at     double precision NOT NULL,
    updated_at     double precision NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_workflows_workspace_created ON workflows(workspace_id, created_at DESC);

-- status: PENDING, RUNNING, SUCCESS, FAILED, FAILED_AFTER_RETRIES, TIMEOUT
CREATE TABLE IF NOT EXISTS executions (
    id             text PRIMARY KEY,
    workflow_id    text NOT NULL REFERENCES workflows(id) ON DELETE CASCADE,
    workspace_id   text NOT NULL REFERENCES workspaces(id),
    status         text NOT NULL DEFAULT 'PENDING',
    error          text,
    input          jsonb NOT NULL DEFAULT '{}'::jsonb,
    correlation_id text,
    triggered_by   text,            -- execution id of the upstream workflow (WF-08), or null
    created_at     double precision NOT NULL,
    started_at     double precision,
    finished_at    double precision
);
CREATE INDEX IF NOT EXISTS idx_executions_status_created ON executions(workflow_id, status, created_at DESC);
CREATE INDEX IF NOT EXISTS idx_executions_workspace_status ON executions(workspace_id, status, created_at);

-- one row per step of an execution; status PENDING, RUNNING, SUCCESS, FAILED, TIMEOUT, SKIPPED
CREATE TABLE IF NOT EXISTS execution_steps (
    execution_id text NOT NULL REFERENCES executions(id) ON DELETE CASCADE,
    position     integer NOT NULL,
    name         text NOT NULL,
    status       text NOT NULL DEFAULT 'PENDING',
    duration_s   double precision NOT NULL DEFAULT 0,
    attempts     integer NOT NULL DEFAULT 0,
    output       jsonb,
    error        text,
    started_at   double precision,
    PRIMARY KEY (execution_id, position)
);

-- every attempt of every step (retry history); started_at is REAL time so checks can time backoff
CREATE TABLE IF NOT EXISTS execution_attempts (
    execution_id text NOT NULL REFERENCES executions(id) ON DELETE CASCADE,
    step         text NOT NULL,
    attempt      integer NOT NULL,
    status       text NOT NULL,
    error        text,
    delay_ms     integer NOT NULL,
    started_at   double precision NOT NULL,
    PRIMARY KEY (execution_id, step, attempt)
);

CREATE TABLE IF NOT EXISTS circuit_breakers (
    workflow_id text NOT NULL,
    step        text NOT NULL,
    state       text NOT NULL DEFAULT 'closed',
    failures    integer NOT NULL DEFAULT 0,
    opened_at   double precision,
    cached_data jsonb,
    cached_at   double precision,
    PRIMARY KEY (workflow_id, step)
);

CREATE TABLE IF NOT EXISTS webhooks (
    id           text PRIMARY KEY,
    workspace_id text NOT NULL REFERENCES workspaces(id),
    event        text NOT NULL,
    url          text NOT NULL,
    secret       text NOT NULL,
    created_at   double precision NOT NULL
);

CREATE TABLE IF NOT EXISTS webhook_deliveries (
    id           bigserial PRIMARY KEY,
    webhook_id   text NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    execution_id text,
    event        text NOT NULL,
    status_code  integer,
    error        text,
    delivered_at double precision NOT NULL
);
