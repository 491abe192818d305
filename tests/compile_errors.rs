//! A handler with an argument that is not an extractor for its kind of handler does not
//! compile, and the error says why (`#[diagnostic::on_unimplemented]`).

#[test]
fn wrong_extractors_fail_to_compile_with_an_explanation() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/compile_fail/*.rs");
}
