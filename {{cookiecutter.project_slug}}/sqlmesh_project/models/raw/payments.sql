-- Raw layer: the shop's CSV exports, loaded as-is.
MODEL (
  name raw.payments,
  kind SEED (
    path '../../seeds/payments.csv'
  ),
  description 'Payments as exported from the payment provider. An order can be paid in several parts (gift card plus card); an order not paid yet has none.',
  owner analytics,
  tags (raw, shop),
  grain payment_id,
  columns (
    payment_id INTEGER,
    order_id INTEGER,
    payment_method TEXT,
    amount_cents INTEGER
  ),
  column_descriptions (
    payment_id = 'Payment id at the provider',
    order_id = 'Order the payment settles',
    payment_method = 'credit_card, bank_transfer, gift_card or coupon',
    amount_cents = 'Amount paid, in cents'
  ),
  audits (
    unique_values(columns := (payment_id))
  )
);
