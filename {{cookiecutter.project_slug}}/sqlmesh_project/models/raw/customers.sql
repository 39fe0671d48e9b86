-- Raw layer: the shop's CSV exports, loaded as-is. Seeds are loaded once and
-- reloaded only when the CSV file (or this definition) changes.
--
-- Dates stay TEXT here, exactly as exported, and get their DATE type in the
-- staging layer. (SQLMesh's seed loader also prints pandas deprecation warnings
-- for every DATE seed column, which this avoids.)
MODEL (
  name raw.customers,
  kind SEED (
    path '../../seeds/customers.csv'
  ),
  description 'Customer accounts as exported from the shop system, one row per account.',
  owner analytics,
  tags (raw, shop),
  grain customer_id,
  columns (
    customer_id INTEGER,
    first_name TEXT,
    last_name TEXT,
    email TEXT,
    signup_date TEXT
  ),
  column_descriptions (
    customer_id = 'Shop account id',
    first_name = 'First name as typed by the customer',
    last_name = 'Last name as typed by the customer',
    email = 'Contact email address',
    signup_date = 'Day the account was created, YYYY-MM-DD'
  ),
  audits (
    unique_values(columns := (customer_id))
  )
);
