{#
    on-run-end: the read-only BI role (var bi_role) may read placewise_marts and
    placewise_audit, and nothing in placewise_raw, placewise_ops or placewise_staging.
    Run after every invocation, so tables dbt re-created in this run are granted again.
    The model schemas are named as generate_schema_name names them, so a dev target grants
    on its own prefixed schemas and leaves the production ones alone.
    Audit views that read other schemas work for the role because views run with
    their owner's rights.
#}
{% macro placewise_grant_bi_role() -%}
    {%- set role = var('bi_role', 'placewise_bi') -%}
    {%- set readable = [
        generate_schema_name('placewise_marts', none) | trim,
        generate_schema_name('placewise_audit', none) | trim,
    ] -%}
    {%- set forbidden = [
        'placewise_raw', 'placewise_ops', generate_schema_name('placewise_staging', none) | trim
    ] -%}
    do $placewise_grants$
    declare
        schema_name text;
    begin
        if not exists (select 1 from pg_roles where rolname = '{{ role }}') then
            begin
                create role "{{ role }}" nologin;
            exception when duplicate_object or unique_violation then
                null;  -- created concurrently by another run
            end;
        end if;
        foreach schema_name in array array['{{ readable | join("', '") }}'] loop
            if exists (select 1 from pg_namespace where nspname = schema_name) then
                execute format('grant usage on schema %I to %I', schema_name, '{{ role }}');
                execute format(
                    'grant select on all tables in schema %I to %I', schema_name, '{{ role }}'
                );
                execute format(
                    'alter default privileges in schema %I grant select on tables to %I',
                    schema_name, '{{ role }}'
                );
            end if;
        end loop;
        foreach schema_name in array array['{{ forbidden | join("', '") }}'] loop
            if exists (select 1 from pg_namespace where nspname = schema_name) then
                execute format(
                    'revoke all on all tables in schema %I from %I', schema_name, '{{ role }}'
                );
                execute format(
                    'revoke all on all sequences in schema %I from %I', schema_name, '{{ role }}'
                );
                execute format('revoke all on schema %I from %I', schema_name, '{{ role }}');
            end if;
        end loop;
    end
    $placewise_grants$
{%- endmacro %}

{#
    The same grants as a run-operation (`dbt run-operation grant_bi_role`): Airflow runs
    the models one task per model, where on-run-end hooks do not fire, so the DAGs call
    this once after the models are built.
#}
{% macro grant_bi_role() -%}
    {% do run_query(placewise_grant_bi_role()) %}
    {{ log("granted read access on placewise_marts and placewise_audit to "
           ~ var('bi_role', 'placewise_bi'), info=True) }}
{%- endmacro %}
