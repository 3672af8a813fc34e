{#
    Every series row of the reports only the API's Metadata describes, timeseries buckets and
    statistics windows alike: one period per row (a bucket, or the club-local day a statistics
    total covers), so a report is read the same way whichever result type it has.
#}
with timeseries as (

    select
        {{ placewise_lineage_columns() }},
        report,
        'timeseries' as result_type,
        loyalty_club_id,
        aggregation,
        interval as period_interval,
        bucket_local as period_start_local,
        bucket_start as period_start,
        bucket_date as period_date,
        timezone,
        label,
        value

    from {{ source('placewise_raw', 'generic_series') }}

),

statistics as (

    select
        {{ placewise_lineage_columns() }},
        report,
        'statistics' as result_type,
        loyalty_club_id,
        aggregation,
        'statistics' as period_interval,
        window_start_local as period_start_local,
        null::timestamptz as period_start,
        stat_date as period_date,
        timezone,
        label,
        value

    from {{ source('placewise_raw', 'generic_statistics') }}

)

select * from timeseries
union all
select * from statistics
