{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        pre_hook="{{ placewise_delete_replaced_partitions('links_visits_history', '1d', 'bucket_date') }}",
        indexes=[{'columns': ['loyalty_club_id', 'aggregation', 'bucket_date']}]
    )
}}

{{ placewise_timeseries_fact(
    report='links_visits_history',
    staging_model='stg_placewise__links_visits_history',
    dimension_columns={'source_type': 'source_type', 'source_id': 'source_id'},
    measure='visits',
    extra_columns={},
    no_dimension=('none',)
) }}
