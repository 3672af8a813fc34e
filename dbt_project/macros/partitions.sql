{#
    Partition-replacing incremental facts.

    The loader replaces whole (club, report, aggregation, interval, club-local day)
    partitions in one transaction and records the owning slice in
    placewise_ops.loaded_partitions. An incremental fact rebuilds exactly the partitions
    whose owner it has not seen yet:

      batch = loaded_partitions of the report (per-club scopes) for which {{ this }} has
              no row with the same (loyalty_club_id, aggregation, day, _slice_id).

    The model's pre_hook deletes the fact rows of the batch partitions and the model
    select appends the staging rows of the partitions that then have no row in
    {{ this }} (for_insert=true); dbt runs both in one transaction. Selecting "no row at
    all" rather than "no row of the owning slice" for the insert keeps a partition the
    loader replaces between the two statements from being inserted next to its old rows:
    it is simply picked up by the next run. A partition whose slice returned no series
    stays in the batch (it can never own a row), so re-running it only deletes what an
    older slice left behind: cheap and idempotent.
#}

{% macro placewise_partition_batch(report, interval, date_column, for_insert=false) -%}
    select
        lp.scope,
        coalesce(lp.loyalty_club_id, split_part(lp.scope, ':', 2)::bigint) as loyalty_club_id,
        lp.aggregation,
        lp.interval,
        lp.partition_date,
        lp.slice_id
    from {{ source('placewise_ops', 'loaded_partitions') }} as lp
    where
        lp.report = '{{ report }}'
        and lp.interval = '{{ interval }}'
        and lp.scope like 'club:%'
        {%- if is_incremental() %}
            and not exists (
                select 1
                from {{ this }} as owned
                where
                    owned.loyalty_club_id
                    = coalesce(lp.loyalty_club_id, split_part(lp.scope, ':', 2)::bigint)
                    and owned.aggregation = lp.aggregation
                    and owned.{{ date_column }} = lp.partition_date
                    {%- if not for_insert %}
                        and owned._slice_id = lp.slice_id
                    {%- endif %}
            )
        {%- endif %}
{%- endmacro %}


{% macro placewise_delete_replaced_partitions(report, interval, date_column) -%}
    {%- if is_incremental() -%}
        delete from {{ this }} as cur
        using ({{ placewise_partition_batch(report, interval, date_column) }}) as batch
        where
            cur.loyalty_club_id = batch.loyalty_club_id
            and cur.aggregation = batch.aggregation
            and cur.{{ date_column }} = batch.partition_date
    {%- endif -%}
{%- endmacro %}


{#
    The dimension value of a series: '(all)' without aggregation, '(null)' for a null
    label value (a sending outside any campaign has campaign_id null), else the label
    value as text. `columns` maps each aggregation to the typed staging column holding
    its label value; an aggregation not in the map falls back to the label key of the
    same name, so a new aggregation still gets rows instead of failing.
#}
{% macro placewise_dimension_value(columns, no_dimension=('none',)) -%}
    case
        when aggregation in ('{{ no_dimension | join("', '") }}') then '(all)'
        {%- for aggregation, column in columns.items() %}
            when aggregation = '{{ aggregation }}' then coalesce({{ column }}::text, '(null)')
        {%- endfor %}
        else coalesce(label ->> regexp_replace(aggregation, '^total_', ''), '(null)')
    end
{%- endmacro %}


{#
    Select of a partition-replacing timeseries fact (interval 1d): the batch partitions'
    staging rows with their dimension value. `extra_columns` maps output names to
    expressions kept in the grain besides dimension_value (e.g. event_type).
#}
{% macro placewise_timeseries_fact(
    report, staging_model, dimension_columns, measure, extra_columns={},
    no_dimension=('none',)
) -%}
with batch as (

    {{ placewise_partition_batch(report, '1d', 'bucket_date', for_insert=true) }}

),

series as (

    select
        staged.*,
        batch.loyalty_club_id as partition_club_id
    from {{ ref(staging_model) }} as staged
    inner join batch
        on
            staged._slice_id = batch.slice_id
            and staged._scope = batch.scope
            and staged.aggregation = batch.aggregation
            and staged.bucket_interval = batch.interval
            and staged.bucket_date = batch.partition_date

),

final as (

    select
        bucket_date,
        partition_club_id as loyalty_club_id,
        aggregation,
        {{ placewise_dimension_value(dimension_columns, no_dimension) }} as dimension_value,
        {%- for name, expression in extra_columns.items() %}
            {{ expression }} as {{ name }},
        {%- endfor %}
        {{ measure }},
        bucket_start,
        _slice_id,
        _loaded_at
    from series

)

select * from final
{%- endmacro %}
