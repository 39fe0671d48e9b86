MODEL (name marts.jinja_totals, kind FULL);
JINJA_QUERY_BEGIN;
SELECT
{% for status in ['shipped', 'completed'] %}
  SUM(CASE WHEN status = '{{ status }}' THEN amount ELSE 0 END) AS {{ status }}_amount{{ ',' if not loop.last }}
{% endfor %}
FROM staging.orders;
JINJA_END;
