{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        pre_hook="{{ placewise_delete_replaced_partitions('members_count_snapshot', '1d', 'bucket_date') }}",
        indexes=[{'columns': ['loyalty_club_id', 'aggregation', 'bucket_date']}]
    )
}}

{{ placewise_timeseries_fact(
    report='members_count_snapshot',
    staging_model='stg_placewise__members_count_snapshot',
    dimension_columns={
        'optin_platform': 'optin_platform',
        'gender': 'gender',
        'age': 'age',
        'grouping_type': "(grouping_type || ':' || grouping_value)",
    },
    measure='members_count',
    extra_columns={},
    no_dimension=('none',)
) }}
