-- Integrations and entitlements: global_integrations, integration_accounts and organization_entitlements.
-- depends: 20260205_120000_purchases_and_usage

-- Platform-wide integrations with third-party providers and their non-secret settings.
CREATE TABLE global_integrations (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    provider text NOT NULL,
    name text NOT NULL,
    is_enabled boolean NOT NULL DEFAULT true,
    config jsonb NOT NULL DEFAULT '{}'::jsonb,
    -- Where the credentials live in the secret store; never the credentials themselves.
    secret_ref text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,
    CONSTRAINT global_integrations_provider_format
        CHECK (provider ~ '^[a-z][a-z0-9_]*$' AND length(provider) <= 64),
    CONSTRAINT global_integrations_name_not_blank CHECK (btrim(name) <> ''),
    CONSTRAINT global_integrations_config_object CHECK (jsonb_typeof(config) = 'object')
);

CREATE UNIQUE INDEX global_integrations_provider_live_key ON global_integrations (provider)
    WHERE deleted_at IS NULL;

CREATE TRIGGER global_integrations_set_updated_at BEFORE UPDATE ON global_integrations
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- An organization's connected account at a provider.
CREATE TABLE integration_accounts (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    provider text NOT NULL,
    external_account_id text NOT NULL,
    display_name text,
    status text NOT NULL DEFAULT 'active',
    scopes text[] NOT NULL DEFAULT '{}'::text[],
    -- Where the tokens live in the secret store; never the tokens themselves.
    secret_ref text,
    -- The connection survives the account of whoever made it.
    connected_by uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,
    CONSTRAINT integration_accounts_provider_format
        CHECK (provider ~ '^[a-z][a-z0-9_]*$' AND length(provider) <= 64),
    CONSTRAINT integration_accounts_status_check CHECK (status IN ('active', 'revoked', 'error'))
);

CREATE UNIQUE INDEX integration_accounts_live_key
    ON integration_accounts (organization_id, provider, external_account_id)
    WHERE deleted_at IS NULL;

CREATE INDEX integration_accounts_connected_by_idx ON integration_accounts (connected_by);

CREATE TRIGGER integration_accounts_set_updated_at BEFORE UPDATE ON integration_accounts
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- What an organization may use, and how much: from its subscription, a purchase, or granted
-- by hand. Computed entitlements are rows here so that checks need one indexed look-up.
CREATE TABLE organization_entitlements (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    feature_id uuid NOT NULL REFERENCES features (id) ON DELETE RESTRICT,
    source text NOT NULL,
    -- An entitlement goes with the subscription or purchase it came from.
    subscription_id uuid REFERENCES subscriptions (id) ON DELETE CASCADE,
    one_time_purchase_id uuid REFERENCES one_time_purchases (id) ON DELETE CASCADE,
    -- NULL: unlimited.
    limit_value bigint,
    starts_at timestamptz NOT NULL DEFAULT now(),
    ends_at timestamptz,
    granted_by uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,
    CONSTRAINT organization_entitlements_source_check
        CHECK (source IN ('subscription', 'purchase', 'manual')),
    CONSTRAINT organization_entitlements_source_reference CHECK (
        (source = 'subscription') = (subscription_id IS NOT NULL)
        AND (source = 'purchase') = (one_time_purchase_id IS NOT NULL)
    ),
    CONSTRAINT organization_entitlements_limit_value_check
        CHECK (limit_value IS NULL OR limit_value >= 0),
    CONSTRAINT organization_entitlements_window_check CHECK (ends_at IS NULL OR ends_at > starts_at)
);

CREATE INDEX organization_entitlements_organization_feature_idx
    ON organization_entitlements (organization_id, feature_id) WHERE deleted_at IS NULL;

CREATE INDEX organization_entitlements_feature_idx ON organization_entitlements (feature_id);

CREATE INDEX organization_entitlements_subscription_idx
    ON organization_entitlements (subscription_id) WHERE subscription_id IS NOT NULL;

CREATE INDEX organization_entitlements_purchase_idx
    ON organization_entitlements (one_time_purchase_id) WHERE one_time_purchase_id IS NOT NULL;

CREATE INDEX organization_entitlements_granted_by_idx ON organization_entitlements (granted_by);

CREATE TRIGGER organization_entitlements_set_updated_at BEFORE UPDATE ON organization_entitlements
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
