//! The render's coalescing moves a chart's values out of the chart instead of copying them
//! when nothing else holds them. These charts share values where Helm's copies keep them
//! apart (two aliases of one subchart, one export imported twice, a template that changes
//! `.Values` with `set`); each must render as Helm v4's own library (helm-python-sdk) does.

mod common;

fn files() -> Vec<(&'static str, &'static str)> {
    vec![
        (
            "Chart.yaml",
            "apiVersion: v2\nname: top\nversion: 1.0.0\ndependencies:\n\
             - name: sub\n  version: 1.0.0\n  alias: one\n  import-values: [data, data]\n\
             - name: sub\n  version: 1.0.0\n  alias: two\n",
        ),
        ("values.yaml", "shared: {a: 1}\none: {x: 1}\n"),
        (
            "templates/top.yaml",
            "{{- $_ := set .Values.shared \"touched\" \"top\" }}top: {{ toJson .Values }}\n",
        ),
        (
            "charts/sub/Chart.yaml",
            "apiVersion: v2\nname: sub\nversion: 1.0.0\n",
        ),
        (
            "charts/sub/values.yaml",
            "inner: {list: [{k: 1}], m: {n: 2}}\nexports:\n  data: {imported: {deep: true}}\n",
        ),
        (
            "charts/sub/templates/cm.yaml",
            "{{- $_ := set .Values.inner.m \"by\" .Chart.Name }}\
             {{- $_ := set (index .Values.inner.list 0) \"by\" .Chart.Name }}\
             {{ .Chart.Name }}: {{ toJson .Values }}\n",
        ),
    ]
}

#[test]
fn values_shared_between_charts_render_as_helm_does() {
    let chart = common::files(&files());
    let (want, got) = common::both_render(chart);
    assert_eq!(got, want);
}
