{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        pre_hook="{{ placewise_delete_replaced_partitions('member_balance', '1d', 'bucket_date') }}",
        indexes=[{'columns': ['loyalty_club_id', 'aggregation', 'bucket_date']}]
    )
}}

{{ placewise_timeseries_fact(
    report='member_balance',
    staging_model='stg_placewise__member_balance',
    dimension_columns={'optin_platform': 'optin_platform', 'consents': 'consents'},
    measure='members',
    extra_columns={'balance_type': "coalesce(balance_type, '(all)')"},
    no_dimension=('none', 'total')
) }}
