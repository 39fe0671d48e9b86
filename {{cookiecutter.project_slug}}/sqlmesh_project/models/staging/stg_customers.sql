-- Staging layer: one model per source table, renamed and cleaned, no business logic.
MODEL (
  name staging.stg_customers,
  kind FULL,
  description 'Customers with a display name and a normalised email address.',
  owner analytics,
  tags (staging, shop),
  grain customer_id,
  audits (
    unique_values(columns := (customer_id)),
    not_null(columns := (customer_id, full_name, email)),
    -- A plain shape check that every warehouse can run (an address has an @ and a dot).
    forall(criteria := (email LIKE '%_@_%._%'))
  )
);

SELECT
  customer_id, -- Shop account id
  first_name, -- First name as typed by the customer
  last_name, -- Last name as typed by the customer
  TRIM(first_name) || ' ' || TRIM(last_name) AS full_name, -- First and last name, for display
  LOWER(TRIM(email)) AS email, -- Contact email, trimmed and lower-cased
  CAST(signup_date AS DATE) AS signup_date -- Day the account was created
FROM raw.customers
