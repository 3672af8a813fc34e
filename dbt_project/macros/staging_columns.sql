{#
    The loader's lineage columns, first in every staging view: which slice, which landed body
    (sha256) and which row of it a staged row came from.
#}
{% macro placewise_lineage_columns() -%}
_slice_id,
        _scope,
        _loaded_at,
        _response_sha256,
        _row_no
{%- endmacro %}

{#
    The columns every timeseries staging view passes through unchanged: the loader's lineage
    (which slice and landed body a row came from) and the bucket in local and absolute time.
    Kept in one place so the five timeseries views cannot drift apart.
#}
{% macro placewise_timeseries_base_columns() -%}
{{ placewise_lineage_columns() }},
        loyalty_club_id,
        aggregation,
        interval as bucket_interval,
        bucket_local,
        bucket_start,
        bucket_date,
        timezone
{%- endmacro %}
