{#
    Day-replacing incremental models: marts and audits built from a partition-replacing fact
    that combine several partitions of one day (the cross-club totals, the reconciliation,
    the daily performance pivot). They rebuild exactly the days whose partitions changed.

    Every row carries _partitions_fingerprint: the md5 of the day's loaded partitions of the
    report and their owning slices (placewise_ops.loaded_partitions) as the model read them.
    A day is rebuilt when its current fingerprint differs from the stored one, or when the
    model has no row of that day:

      pre_hook  deletes the rows of every day whose fingerprint changed,
      select    builds every loaded day that then has no row in {{ this }},

    in one transaction (dbt runs both in it). As in the partition-replacing facts, the select
    picks "no row at all" rather than "fingerprint changed", so a day the loader changes
    between the two statements is not inserted next to its old rows: the next run picks it
    up. A partition the fact has not rebuilt yet (its rows still belong to an older slice) is
    recorded as 'pending' in the stored fingerprint, so the day is rebuilt again once the
    fact has caught up. A day that yields no row at all (no events on any club) is rebuilt on
    every run: it costs one empty lookup.
#}

{% macro placewise_day_fingerprint(partitions, slice_text) -%}
    md5(string_agg(
        {{ partitions }}.scope || '|' || {{ partitions }}.aggregation || '|' || {{ slice_text }},
        ',' order by {{ partitions }}.scope, {{ partitions }}.aggregation
    ))
{%- endmacro %}


{#
    Per club-local day of `report` (partition interval `interval`): its current fingerprint.
    `required_scope` keeps only the days with at least one partition of such a scope
    (for a model with rows only on days that have a cross-club partition).
#}
{% macro placewise_loaded_days(report, interval, required_scope=none) -%}
    select
        lp.partition_date as day,
        {{ placewise_day_fingerprint('lp', 'lp.slice_id::text') }} as fingerprint
    from {{ source('placewise_ops', 'loaded_partitions') }} as lp
    where lp.report = '{{ report }}' and lp.interval = '{{ interval }}'
    group by 1
    {%- if required_scope %}
        having bool_or(lp.scope like '{{ required_scope }}')
    {%- endif %}
{%- endmacro %}


{#
    True when `this` exists but predates the fingerprint column (built by an older version of
    the project as a full table): every row is then replaced on this run.
#}
{% macro placewise_lacks_fingerprint() -%}
    {%- set columns = adapter.get_columns_in_relation(this) | map(attribute='name') | list -%}
    {{- return('_partitions_fingerprint' not in columns) -}}
{%- endmacro %}


{% macro placewise_delete_changed_days(report, interval, date_column, required_scope=none) -%}
    {%- if is_incremental() -%}
        {%- if placewise_lacks_fingerprint() -%}
            delete from {{ this }}
        {%- else -%}
            delete from {{ this }} as cur
            using ({{ placewise_loaded_days(report, interval, required_scope) }}) as loaded
            where
                cur.{{ date_column }} = loaded.day
                and cur._partitions_fingerprint is distinct from loaded.fingerprint
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}


{# The days the model's select builds: loaded days without any row in the model. #}
{% macro placewise_days_to_build(report, interval, date_column, required_scope=none) -%}
    select loaded.day
    from ({{ placewise_loaded_days(report, interval, required_scope) }}) as loaded
    {%- if is_incremental() %}
        where not exists (
            select 1 from {{ this }} as built
            where built.{{ date_column }} = loaded.day
        )
    {%- endif %}
{%- endmacro %}


{#
    The per-club partitions of the days in `days` (a relation with column day), with the
    club id resolved: what a day-replacing model reads from the fact `fact`.
#}
{% macro placewise_club_partitions_of(report, interval, days) -%}
    select
        lp.scope,
        coalesce(lp.loyalty_club_id, split_part(lp.scope, ':', 2)::bigint) as loyalty_club_id,
        lp.aggregation,
        lp.partition_date,
        lp.slice_id
    from {{ source('placewise_ops', 'loaded_partitions') }} as lp
    inner join {{ days }} on lp.partition_date = {{ days }}.day
    where
        lp.report = '{{ report }}'
        and lp.interval = '{{ interval }}'
        and lp.scope like 'club:%'
{%- endmacro %}


{#
    The rows of the fact `fact` in the per-club partitions `club_partitions` (a relation from
    placewise_club_partitions_of), optionally of one aggregation: what a model rebuilding the
    changed days reads.
#}
{% macro placewise_club_facts_in(fact, club_partitions, date_column, aggregation=none) -%}
    select fct.*
    from {{ fact }} as fct
    inner join {{ club_partitions }} as cp
        on
            fct.loyalty_club_id = cp.loyalty_club_id
            and fct.aggregation = cp.aggregation
            and fct.{{ date_column }} = cp.partition_date
    {%- if aggregation is not none %}
    where cp.aggregation = '{{ aggregation }}'
    {%- endif %}
{%- endmacro %}

{#
    The fingerprint to store for each day in `days`: as placewise_loaded_days, except that a
    per-club partition the fact `fact` has not rebuilt from its current owner yet counts as
    'pending'. A partition counts as rebuilt when the fact holds rows of the owning slice, or
    when the owning slice has no raw rows for it and the fact holds none of it either.
#}
{% macro placewise_read_fingerprints(
    report, interval, days, fact, date_column, raw_source, raw_date_column
) -%}
    select
        lp.partition_date as day,
        {{ placewise_day_fingerprint('lp', "case when lp.scope not like 'club:%' or exists (
            select 1 from " ~ fact ~ " as fct
            where
                fct.loyalty_club_id
                = coalesce(lp.loyalty_club_id, split_part(lp.scope, ':', 2)::bigint)
                and fct.aggregation = lp.aggregation
                and fct." ~ date_column ~ " = lp.partition_date
                and fct._slice_id = lp.slice_id
        ) or (
            not exists (
                select 1 from " ~ raw_source ~ " as raw
                where
                    raw._slice_id = lp.slice_id
                    and raw._scope = lp.scope
                    and raw.aggregation = lp.aggregation
                    and raw." ~ raw_date_column ~ " = lp.partition_date
            )
            and not exists (
                select 1 from " ~ fact ~ " as fct
                where
                    fct.loyalty_club_id
                    = coalesce(lp.loyalty_club_id, split_part(lp.scope, ':', 2)::bigint)
                    and fct.aggregation = lp.aggregation
                    and fct." ~ date_column ~ " = lp.partition_date
            )
        ) then lp.slice_id::text else 'pending' end") }} as fingerprint
    from {{ source('placewise_ops', 'loaded_partitions') }} as lp
    inner join {{ days }} on lp.partition_date = {{ days }}.day
    where lp.report = '{{ report }}' and lp.interval = '{{ interval }}'
    group by 1
{%- endmacro %}
