-- Staging layer: payments, as a view. A VIEW model stores nothing; it is
-- cheap to keep in sync and always reflects its upstream table.
MODEL (
  name staging.stg_payments,
  kind VIEW,
  description 'Payments with amounts in dollars.',
  owner analytics,
  tags (staging, shop),
  grain payment_id,
  audits (
    unique_values(columns := (payment_id)),
    not_null(columns := (payment_id, order_id, amount)),
    accepted_values(
      column := payment_method,
      is_in := ('credit_card', 'bank_transfer', 'gift_card', 'coupon')
    ),
    assert_positive_amounts(column := amount)
  )
);

SELECT
  payment_id, -- Payment id at the provider
  order_id, -- Order the payment settles
  payment_method, -- credit_card, bank_transfer, gift_card or coupon
  @cents_to_dollars(amount_cents) AS amount -- Amount paid, in dollars
FROM raw.payments
