{#
    Data tests of the day-partitioned models look only at the days a run changed.

    A generic test configured with where: "__placewise_changed_days__" (dbt_project.yml sets it
    for every data test) runs over the rows of its model whose day (the model's
    meta.changed_days_column) has a partition (re)loaded within var('placewise_test_days_within')
    of the run's start, i.e. what the nightly sync just replaced, instead of the whole history.
    A test of a model without that meta, a --full-refresh run and a run with
    --vars '{placewise_test_all_days: true}' test every row, exactly as without the filter.
    Any other where config behaves as dbt's own.
#}
{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where', '') -%}
    {%- if where == '__placewise_changed_days__' -%}
        {%- set column = placewise_changed_days_column(relation) -%}
        {%- if column is none or flags.FULL_REFRESH or var('placewise_test_all_days', false) -%}
            {%- do return(relation) -%}
        {%- endif -%}
        {%- set filtered -%}
            (
                select * from {{ relation }}
                where {{ column }} in (
                    select lp.partition_date
                    from {{ source('placewise_ops', 'loaded_partitions') }} as lp
                    where
                        lp.loaded_at >= '{{ run_started_at.isoformat() }}'::timestamptz
                        - interval '{{ var("placewise_test_days_within", "3 days") }}'
                )
            ) dbt_subquery
        {%- endset -%}
        {%- do return(filtered) -%}
    {%- elif where -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ where }}) dbt_subquery
        {%- endset -%}
        {%- do return(filtered) -%}
    {%- else -%}
        {%- do return(relation) -%}
    {%- endif -%}
{%- endmacro %}


{# The meta.changed_days_column of the model behind `relation`, or none. #}
{% macro placewise_changed_days_column(relation) -%}
    {%- if execute -%}
        {%- for node in graph.nodes.values() -%}
            {%- if node.resource_type == 'model'
                and node.alias == relation.identifier
                and node.schema == relation.schema -%}
                {%- do return(node.config.meta.get('changed_days_column')) -%}
            {%- endif -%}
        {%- endfor -%}
    {%- endif -%}
    {%- do return(none) -%}
{%- endmacro %}
