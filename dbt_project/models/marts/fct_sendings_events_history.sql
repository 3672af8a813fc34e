{{
    config(
        materialized='incremental',
        incremental_strategy='append',
        on_schema_change='fail',
        pre_hook="{{ placewise_delete_replaced_partitions('sendings_events_history', '1d', 'bucket_date') }}",
        indexes=[{'columns': ['loyalty_club_id', 'aggregation', 'bucket_date']}]
    )
}}

{{ placewise_timeseries_fact(
    report='sendings_events_history',
    staging_model='stg_placewise__sendings_events_history',
    dimension_columns={'channel': 'channel', 'campaign_id': 'campaign_id', 'sending_id': 'sending_id'},
    measure='events',
    extra_columns={'event_type': 'event_type'},
    no_dimension=('none',)
) }}
