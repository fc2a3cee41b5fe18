-- The catalogue and subscriptions: tools, features, plans, plan_limits, bundle_groups, bundles, bundle_plans, subscriptions.
-- depends: 20260130_000000_organizations_and_access

-- The product's tools; their use is metered in tool_usage.
CREATE TABLE tools (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    key text NOT NULL,
    name text NOT NULL,
    description text,
    is_active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,
    CONSTRAINT tools_key_format CHECK (key ~ '^[a-z][a-z0-9_]*$' AND length(key) <= 64),
    CONSTRAINT tools_name_not_blank CHECK (btrim(name) <> '')
);

CREATE UNIQUE INDEX tools_key_live_key ON tools (key) WHERE deleted_at IS NULL;

CREATE TRIGGER tools_set_updated_at BEFORE UPDATE ON tools
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- What a plan can grant and limit, e.g. 'seats' or 'api_calls'; optionally part of one tool.
CREATE TABLE features (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- A tool that features refer to is retired (soft-deleted), not deleted.
    tool_id uuid REFERENCES tools (id) ON DELETE RESTRICT,
    key text NOT NULL,
    name text NOT NULL,
    description text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,
    CONSTRAINT features_key_format
        CHECK (key ~ '^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$' AND length(key) <= 128),
    CONSTRAINT features_name_not_blank CHECK (btrim(name) <> '')
);

CREATE UNIQUE INDEX features_key_live_key ON features (key) WHERE deleted_at IS NULL;

CREATE INDEX features_tool_idx ON features (tool_id);

CREATE TRIGGER features_set_updated_at BEFORE UPDATE ON features
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- Prices are integer minor units (cents) of an upper-case ISO 4217 currency.
CREATE TABLE plans (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    key text NOT NULL,
    name text NOT NULL,
    description text,
    price_amount bigint NOT NULL,
    currency char(3) NOT NULL,
    billing_interval text NOT NULL,
    trial_days integer NOT NULL DEFAULT 0,
    is_public boolean NOT NULL DEFAULT true,
    is_active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,
    CONSTRAINT plans_key_format CHECK (key ~ '^[a-z][a-z0-9_]*$' AND length(key) <= 64),
    CONSTRAINT plans_name_not_blank CHECK (btrim(name) <> ''),
    CONSTRAINT plans_price_amount_check CHECK (price_amount >= 0),
    CONSTRAINT plans_currency_format CHECK (currency ~ '^[A-Z]{3}$'),
    CONSTRAINT plans_billing_interval_check CHECK (billing_interval IN ('month', 'year')),
    CONSTRAINT plans_trial_days_check CHECK (trial_days BETWEEN 0 AND 365)
);

CREATE UNIQUE INDEX plans_key_live_key ON plans (key) WHERE deleted_at IS NULL;

CREATE TRIGGER plans_set_updated_at BEFORE UPDATE ON plans
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- How much of a feature a plan grants. Part of the plan's definition: edited in place, not
-- soft-deleted.
CREATE TABLE plan_limits (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    plan_id uuid NOT NULL REFERENCES plans (id) ON DELETE CASCADE,
    feature_id uuid NOT NULL REFERENCES features (id) ON DELETE RESTRICT,
    -- NULL: unlimited.
    limit_value bigint,
    reset_interval text NOT NULL DEFAULT 'month',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT plan_limits_plan_feature_key UNIQUE (plan_id, feature_id),
    CONSTRAINT plan_limits_limit_value_check CHECK (limit_value IS NULL OR limit_value >= 0),
    CONSTRAINT plan_limits_reset_interval_check
        CHECK (reset_interval IN ('day', 'month', 'year', 'never'))
);

CREATE INDEX plan_limits_feature_idx ON plan_limits (feature_id);

CREATE TRIGGER plan_limits_set_updated_at BEFORE UPDATE ON plan_limits
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- How bundles are grouped for sale, e.g. 'Marketing suite'.
CREATE TABLE bundle_groups (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    key text NOT NULL,
    name text NOT NULL,
    description text,
    sort_order integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,
    CONSTRAINT bundle_groups_key_format CHECK (key ~ '^[a-z][a-z0-9_]*$' AND length(key) <= 64),
    CONSTRAINT bundle_groups_name_not_blank CHECK (btrim(name) <> '')
);

CREATE UNIQUE INDEX bundle_groups_key_live_key ON bundle_groups (key) WHERE deleted_at IS NULL;

CREATE TRIGGER bundle_groups_set_updated_at BEFORE UPDATE ON bundle_groups
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- Several plans sold together at one price.
CREATE TABLE bundles (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- Deleting a group leaves its bundles ungrouped.
    bundle_group_id uuid REFERENCES bundle_groups (id) ON DELETE SET NULL,
    key text NOT NULL,
    name text NOT NULL,
    description text,
    price_amount bigint NOT NULL,
    currency char(3) NOT NULL,
    billing_interval text NOT NULL,
    is_active boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,
    CONSTRAINT bundles_key_format CHECK (key ~ '^[a-z][a-z0-9_]*$' AND length(key) <= 64),
    CONSTRAINT bundles_name_not_blank CHECK (btrim(name) <> ''),
    CONSTRAINT bundles_price_amount_check CHECK (price_amount >= 0),
    CONSTRAINT bundles_currency_format CHECK (currency ~ '^[A-Z]{3}$'),
    CONSTRAINT bundles_billing_interval_check CHECK (billing_interval IN ('month', 'year'))
);

CREATE UNIQUE INDEX bundles_key_live_key ON bundles (key) WHERE deleted_at IS NULL;

CREATE INDEX bundles_bundle_group_idx ON bundles (bundle_group_id);

CREATE TRIGGER bundles_set_updated_at BEFORE UPDATE ON bundles
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE bundle_plans (
    bundle_id uuid NOT NULL REFERENCES bundles (id) ON DELETE CASCADE,
    -- A plan that is part of a bundle cannot be deleted.
    plan_id uuid NOT NULL REFERENCES plans (id) ON DELETE RESTRICT,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT bundle_plans_pkey PRIMARY KEY (bundle_id, plan_id)
);

CREATE INDEX bundle_plans_plan_idx ON bundle_plans (plan_id);

-- An organization's subscription to one plan or one bundle. Price, currency and interval are
-- copied from the catalogue at signup: later catalogue changes do not reprice it.
CREATE TABLE subscriptions (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- Billing history is kept: an organization with subscriptions is soft-deleted, and a hard
    -- delete has to remove them explicitly first.
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE RESTRICT,
    -- A plan or bundle with subscriptions cannot be deleted.
    plan_id uuid REFERENCES plans (id) ON DELETE RESTRICT,
    bundle_id uuid REFERENCES bundles (id) ON DELETE RESTRICT,
    status text NOT NULL,
    price_amount bigint NOT NULL,
    currency char(3) NOT NULL,
    billing_interval text NOT NULL,
    quantity integer NOT NULL DEFAULT 1,
    trial_ends_at timestamptz,
    current_period_start timestamptz NOT NULL DEFAULT now(),
    current_period_end timestamptz,
    cancel_at_period_end boolean NOT NULL DEFAULT false,
    canceled_at timestamptz,
    -- The payment provider's id for this subscription.
    external_id text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,
    CONSTRAINT subscriptions_plan_or_bundle CHECK (num_nonnulls(plan_id, bundle_id) = 1),
    CONSTRAINT subscriptions_status_check
        CHECK (status IN ('trialing', 'active', 'past_due', 'canceled', 'expired')),
    CONSTRAINT subscriptions_price_amount_check CHECK (price_amount >= 0),
    CONSTRAINT subscriptions_currency_format CHECK (currency ~ '^[A-Z]{3}$'),
    CONSTRAINT subscriptions_billing_interval_check CHECK (billing_interval IN ('month', 'year')),
    CONSTRAINT subscriptions_quantity_check CHECK (quantity > 0),
    CONSTRAINT subscriptions_period_check
        CHECK (current_period_end IS NULL OR current_period_end > current_period_start),
    CONSTRAINT subscriptions_trial_check CHECK (status <> 'trialing' OR trial_ends_at IS NOT NULL),
    CONSTRAINT subscriptions_canceled_check CHECK (status <> 'canceled' OR canceled_at IS NOT NULL)
);

-- At most one live active or trialing subscription per organization.
CREATE UNIQUE INDEX subscriptions_one_current_key ON subscriptions (organization_id)
    WHERE status IN ('active', 'trialing') AND deleted_at IS NULL;

CREATE INDEX subscriptions_organization_idx ON subscriptions (organization_id, created_at);

CREATE INDEX subscriptions_plan_idx ON subscriptions (plan_id);

CREATE INDEX subscriptions_bundle_idx ON subscriptions (bundle_id);

CREATE UNIQUE INDEX subscriptions_external_id_key ON subscriptions (external_id)
    WHERE external_id IS NOT NULL;

CREATE TRIGGER subscriptions_set_updated_at BEFORE UPDATE ON subscriptions
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
