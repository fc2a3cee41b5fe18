-- Purchases and usage: one_time_purchases (a tool or bundle bought once) and tool_usage (high volume, append-mostly).
-- depends: 20260204_173000_catalogue_and_subscriptions

CREATE TABLE one_time_purchases (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- Billing history is kept, as for subscriptions.
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE RESTRICT,
    -- The purchase survives the account of whoever made it.
    purchased_by uuid REFERENCES users (id) ON DELETE SET NULL,
    tool_id uuid REFERENCES tools (id) ON DELETE RESTRICT,
    bundle_id uuid REFERENCES bundles (id) ON DELETE RESTRICT,
    status text NOT NULL DEFAULT 'pending',
    amount bigint NOT NULL,
    currency char(3) NOT NULL,
    quantity integer NOT NULL DEFAULT 1,
    paid_at timestamptz,
    refunded_at timestamptz,
    -- The payment provider's id for this payment.
    external_id text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,
    CONSTRAINT one_time_purchases_tool_or_bundle CHECK (num_nonnulls(tool_id, bundle_id) = 1),
    CONSTRAINT one_time_purchases_status_check
        CHECK (status IN ('pending', 'paid', 'failed', 'refunded')),
    CONSTRAINT one_time_purchases_amount_check CHECK (amount >= 0),
    CONSTRAINT one_time_purchases_currency_format CHECK (currency ~ '^[A-Z]{3}$'),
    CONSTRAINT one_time_purchases_quantity_check CHECK (quantity > 0),
    CONSTRAINT one_time_purchases_paid_check
        CHECK (status NOT IN ('paid', 'refunded') OR paid_at IS NOT NULL),
    CONSTRAINT one_time_purchases_refunded_check
        CHECK ((status = 'refunded') = (refunded_at IS NOT NULL))
);

CREATE INDEX one_time_purchases_organization_idx ON one_time_purchases (organization_id, created_at);

CREATE INDEX one_time_purchases_purchased_by_idx ON one_time_purchases (purchased_by);

CREATE INDEX one_time_purchases_tool_idx ON one_time_purchases (tool_id);

CREATE INDEX one_time_purchases_bundle_idx ON one_time_purchases (bundle_id);

CREATE UNIQUE INDEX one_time_purchases_external_id_key ON one_time_purchases (external_id)
    WHERE external_id IS NOT NULL;

CREATE TRIGGER one_time_purchases_set_updated_at BEFORE UPDATE ON one_time_purchases
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- One row per metered use of a tool. High volume and append-mostly: no soft delete and no
-- updated_at, and only the indexes the access paths need.
CREATE TABLE tool_usage (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- Usage has no meaning without its organization.
    organization_id uuid NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    -- Usage still counts for the organization after the user's account is deleted.
    user_id uuid REFERENCES users (id) ON DELETE SET NULL,
    tool_id uuid NOT NULL REFERENCES tools (id) ON DELETE RESTRICT,
    feature_id uuid REFERENCES features (id) ON DELETE RESTRICT,
    quantity bigint NOT NULL DEFAULT 1,
    occurred_at timestamptz NOT NULL DEFAULT now(),
    metadata jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT tool_usage_quantity_check CHECK (quantity > 0),
    CONSTRAINT tool_usage_metadata_object CHECK (jsonb_typeof(metadata) = 'object')
);

CREATE INDEX tool_usage_organization_time_idx ON tool_usage (organization_id, occurred_at);

-- Partial: most usage may come from API keys without a user, and erasing a user must not
-- scan the table.
CREATE INDEX tool_usage_user_idx ON tool_usage (user_id) WHERE user_id IS NOT NULL;
