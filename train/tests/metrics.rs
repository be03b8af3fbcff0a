//! Guard metrics against hand-computed values and numbers from scikit-learn.

use std::collections::BTreeSet;

use guardtune::metrics::{
    average_precision, per_category_f1, precision_recall_curve, CategorySets,
    ClassificationMetrics, Prediction, ScoreError,
};

fn close(actual: f64, expected: f64) -> bool {
    (actual - expected).abs() < 1e-12
}

macro_rules! assert_close {
    ($actual:expr, $expected:expr) => {
        assert!(
            close($actual, $expected),
            "{} = {}, expected {}",
            stringify!($actual),
            $actual,
            $expected
        )
    };
}

/// Rows from `(label, predicted, score)`, 1 = unsafe, `None` = unparseable output.
fn rows(data: &[(u8, Option<u8>, f64)]) -> Vec<Prediction> {
    data.iter()
        .map(|&(label, predicted, score)| Prediction {
            label: label == 1,
            predicted: predicted.map(|p| p == 1),
            score: Some(score),
        })
        .collect()
}

/// Ten rows with two unparseable outputs and tied scores (0.8 and 0.35 each occur on one
/// unsafe and one safe row). By hand: TP 3 (rows 0, 1, 9), FP 1 (row 4), FN 2 (row 2, and
/// row 3 which is unparseable), TN 4 (rows 5, 6, 8, and unparseable row 7).
fn mixed() -> Vec<Prediction> {
    rows(&[
        (1, Some(1), 0.9),
        (1, Some(1), 0.8),
        (1, Some(0), 0.4),
        (1, None, 0.35),
        (0, Some(1), 0.8),
        (0, Some(0), 0.1),
        (0, Some(0), 0.2),
        (0, None, 0.5),
        (0, Some(0), 0.35),
        (1, Some(1), 0.7),
    ])
}

#[test]
fn mixed_set_matches_hand_computation_and_scikit_learn() {
    let m = ClassificationMetrics::from_predictions(&mixed());
    assert_eq!(
        (
            m.count,
            m.positives,
            m.predicted_positives,
            m.true_positives,
            m.false_positives,
            m.false_negatives
        ),
        (10, 5, 4, 3, 1, 2)
    );
    assert_eq!(m.unparseable, 2);
    assert_close!(m.precision, 3.0 / 4.0);
    assert_close!(m.recall, 3.0 / 5.0);
    assert_close!(m.f1, 2.0 / 3.0);
    assert_close!(m.accuracy, 7.0 / 10.0);
    // By hand over thresholds 0.9, 0.8, 0.7, 0.5, 0.4, 0.35 (recall steps of 0.2):
    // 0.2 * (1 + 2/3 + 3/4 + 4/6 + 5/8). scikit-learn 1.9.1 average_precision_score gives
    // 0.7416666666666667, and f1_score 0.6666666666666666.
    assert_close!(m.auprc.unwrap(), 0.2 * (1.0 + 2.0 / 3.0 + 3.0 / 4.0 + 4.0 / 6.0 + 5.0 / 8.0));
    assert_close!(m.auprc.unwrap(), 0.7416666666666667);
    assert_close!(m.f1, 0.6666666666666666);
}

#[test]
fn pr_curve_groups_tied_scores_like_scikit_learn() {
    let curve = precision_recall_curve(&mixed()).unwrap();
    // scikit-learn 1.9.1 precision_recall_curve on the same data, without its artificial
    // final (precision 1, recall 0) point, listed from the highest threshold down.
    let expected = [
        (0.9, 1.0, 0.2),
        (0.8, 2.0 / 3.0, 0.4),
        (0.7, 0.75, 0.6),
        (0.5, 0.6, 0.6),
        (0.4, 2.0 / 3.0, 0.8),
        (0.35, 0.625, 1.0),
        (0.2, 5.0 / 9.0, 1.0),
        (0.1, 0.5, 1.0),
    ];
    assert_eq!(curve.len(), expected.len());
    for (point, (threshold, precision, recall)) in curve.iter().zip(expected) {
        assert_eq!(point.threshold, threshold);
        assert_close!(point.precision, precision);
        assert_close!(point.recall, recall);
    }
}

#[test]
fn all_correct() {
    let m = ClassificationMetrics::from_predictions(&rows(&[
        (1, Some(1), 0.9),
        (0, Some(0), 0.1),
        (1, Some(1), 0.8),
        (0, Some(0), 0.2),
    ]));
    assert_eq!(
        (m.true_positives, m.false_positives, m.false_negatives, m.unparseable),
        (2, 0, 0, 0)
    );
    for value in [m.precision, m.recall, m.f1, m.accuracy, m.auprc.unwrap()] {
        assert_close!(value, 1.0);
    }
}

#[test]
fn all_wrong() {
    let m = ClassificationMetrics::from_predictions(&rows(&[
        (1, Some(0), 0.1),
        (0, Some(1), 0.9),
        (1, Some(0), 0.2),
        (0, Some(1), 0.8),
    ]));
    assert_eq!((m.true_positives, m.false_positives, m.false_negatives), (0, 2, 2));
    for value in [m.precision, m.recall, m.f1, m.accuracy] {
        assert_close!(value, 0.0);
    }
    // Both unsafe rows rank last: 0.5 * 1/3 + 0.5 * 2/4. scikit-learn 1.9.1:
    // 0.41666666666666663.
    assert_close!(m.auprc.unwrap(), 0.41666666666666663);
}

#[test]
fn no_positives_gives_zero_recall_and_no_auprc() {
    let predictions = rows(&[(0, Some(0), 0.1), (0, Some(1), 0.7), (0, Some(0), 0.3)]);
    let m = ClassificationMetrics::from_predictions(&predictions);
    assert_eq!((m.positives, m.predicted_positives, m.false_positives), (0, 1, 1));
    // scikit-learn with zero_division=0: precision, recall and F1 all 0.0.
    assert_eq!((m.precision, m.recall, m.f1), (0.0, 0.0, 0.0));
    assert_close!(m.accuracy, 2.0 / 3.0);
    assert_eq!(m.auprc, None);
    assert_eq!(precision_recall_curve(&predictions), Err(ScoreError::NoPositives));
}

#[test]
fn no_predicted_positives_gives_zero_precision() {
    let m = ClassificationMetrics::from_predictions(&rows(&[
        (1, Some(0), 0.4),
        (0, Some(0), 0.3),
        (1, None, 0.6),
    ]));
    assert_eq!(
        (m.positives, m.predicted_positives, m.false_negatives, m.unparseable),
        (2, 0, 2, 1)
    );
    assert_eq!((m.precision, m.recall, m.f1), (0.0, 0.0, 0.0));
    assert_close!(m.accuracy, 1.0 / 3.0);
    // The scores still rank both unsafe rows first.
    assert_close!(m.auprc.unwrap(), 1.0);
}

#[test]
fn unparseable_rows_count_as_predicted_safe() {
    let m = ClassificationMetrics::from_predictions(&rows(&[
        (1, None, 0.5),
        (0, None, 0.5),
        (1, Some(1), 0.5),
    ]));
    assert_eq!(
        (m.unparseable, m.true_positives, m.false_negatives, m.false_positives),
        (2, 1, 1, 0)
    );
    assert_close!(m.accuracy, 2.0 / 3.0);
    // One threshold holds all three tied rows: precision 2/3 at recall 1.
    assert_close!(m.auprc.unwrap(), 2.0 / 3.0);
}

#[test]
fn fully_tied_scores_form_one_threshold() {
    let predictions = rows(&[
        (1, Some(1), 0.5),
        (0, Some(1), 0.5),
        (0, Some(1), 0.5),
        (1, Some(1), 0.5),
        (0, Some(1), 0.5),
    ]);
    let curve = precision_recall_curve(&predictions).unwrap();
    assert_eq!(curve.len(), 1);
    // scikit-learn 1.9.1: 0.4.
    assert_close!(average_precision(&predictions).unwrap(), 0.4);
}

#[test]
fn heavily_tied_random_set_matches_scikit_learn() {
    // numpy default_rng(7): 200 labels and scores rounded to one decimal (11 distinct
    // values). scikit-learn 1.9.1 average_precision_score = 0.5380717336420262.
    let labels = "11111110000110010100100010100111111111010010110000011011110100001000111010001110\
                  10110111110100011111101100101000010011010101111010000010011001000101101101111100\
                  1011010001111100100010111011000100101010";
    let tenths = "10,7,4,5,9,3,6,7,4,5,8,9,2,9,0,8,8,1,4,8,0,6,8,5,7,\
                  2,2,4,2,3,9,6,3,3,10,4,10,5,5,9,7,6,4,9,4,9,1,4,5,10,\
                  3,8,7,7,6,10,3,4,2,1,2,9,8,1,6,5,6,7,3,10,5,6,6,2,1,\
                  4,8,8,7,1,9,8,9,5,9,0,0,0,3,2,2,6,0,6,2,7,0,3,9,5,\
                  8,7,6,2,6,0,8,10,9,1,3,3,1,6,8,3,9,8,1,8,9,2,6,6,6,\
                  1,7,6,8,8,3,7,9,9,2,0,7,2,6,9,4,3,5,7,1,4,1,7,8,4,\
                  4,5,2,2,3,5,1,8,6,3,1,8,1,1,1,1,9,3,3,8,6,2,4,9,4,\
                  7,1,7,8,8,7,4,1,5,8,2,3,5,7,9,1,2,8,6,7,10,9,8,8,4";
    let labels: Vec<bool> =
        labels.chars().filter(|c| !c.is_whitespace()).map(|c| c == '1').collect();
    let scores: Vec<f64> =
        tenths.split(',').map(|t| t.trim().parse::<f64>().unwrap() / 10.0).collect();
    assert_eq!((labels.len(), scores.len()), (200, 200));
    let predictions: Vec<Prediction> = labels
        .iter()
        .zip(&scores)
        .map(|(&label, &score)| Prediction {
            label,
            predicted: Some(score >= 0.5),
            score: Some(score),
        })
        .collect();
    assert!((average_precision(&predictions).unwrap() - 0.5380717336420262).abs() < 1e-12);
}

#[test]
fn empty_input_gives_zeros_not_nan() {
    let m = ClassificationMetrics::from_predictions(&[]);
    assert_eq!((m.count, m.positives, m.unparseable), (0, 0, 0));
    assert_eq!((m.precision, m.recall, m.f1, m.accuracy), (0.0, 0.0, 0.0, 0.0));
    assert_eq!(m.auprc, None);
    assert_eq!(precision_recall_curve(&[]), Err(ScoreError::Empty));
}

#[test]
fn missing_or_nan_scores_make_auprc_undefined() {
    let mut predictions = mixed();
    predictions[4].score = None;
    assert_eq!(ClassificationMetrics::from_predictions(&predictions).auprc, None);
    assert_eq!(average_precision(&predictions), Err(ScoreError::MissingScore { row: 4 }));

    predictions[4].score = Some(f64::NAN);
    let m = ClassificationMetrics::from_predictions(&predictions);
    assert_eq!(m.auprc, None);
    assert_close!(m.f1, 2.0 / 3.0);
    let error = precision_recall_curve(&predictions).unwrap_err();
    assert_eq!(error, ScoreError::NanScore { row: 4 });
    assert_eq!(error.to_string(), "prediction #4 has a NaN score");
}

#[test]
fn metrics_round_trip_through_json() {
    let m = ClassificationMetrics::from_predictions(&mixed());
    let json = serde_json::to_string(&m).unwrap();
    assert!(json.contains("\"auprc\":0.741666"), "{json}");
    assert_eq!(serde_json::from_str::<ClassificationMetrics>(&json).unwrap(), m);
    let no_auprc = ClassificationMetrics::from_predictions(&[]);
    assert!(serde_json::to_string(&no_auprc).unwrap().contains("\"auprc\":null"));
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|name| name.to_string()).collect()
}

#[test]
fn per_category_f1_is_one_vs_rest() {
    let examples = [
        CategorySets { label: set(&["Violence", "Hate"]), predicted: set(&["Violence"]) },
        CategorySets { label: set(&["Hate"]), predicted: set(&["Hate", "Sexual"]) },
        CategorySets { label: set(&[]), predicted: set(&["Violence"]) },
        CategorySets { label: set(&["Sexual"]), predicted: set(&[]) },
        CategorySets { label: set(&["Violence"]), predicted: set(&["Violence"]) },
        CategorySets { label: set(&[]), predicted: set(&["Fraud"]) },
    ];
    let scores = per_category_f1(&examples);
    let names: Vec<&str> = scores.iter().map(|s| s.category.as_str()).collect();
    assert_eq!(names, ["Fraud", "Hate", "Sexual", "Violence"]);
    // By hand: Hate TP 1 FN 1 -> P 1, R 1/2, F1 2/3; Sexual TP 0 FP 1 FN 1 -> 0;
    // Violence TP 2 FP 1 -> P 2/3, R 1, F1 4/5. scikit-learn 1.9.1 f1_score(average=None)
    // over MultiLabelBinarizer columns [Hate, Sexual, Violence] (first five rows):
    // [0.6666666666666666, 0.0, 0.8].
    let by_name = |name: &str| scores.iter().find(|s| s.category == name).unwrap();
    let fraud = by_name("Fraud");
    assert_eq!((fraud.support, fraud.predicted, fraud.true_positives, fraud.f1), (0, 1, 0, 0.0));
    let hate = by_name("Hate");
    assert_eq!((hate.support, hate.predicted, hate.true_positives), (2, 1, 1));
    assert_close!(hate.precision, 1.0);
    assert_close!(hate.recall, 0.5);
    assert_close!(hate.f1, 0.6666666666666666);
    let sexual = by_name("Sexual");
    assert_eq!(
        (sexual.support, sexual.predicted, sexual.precision, sexual.recall, sexual.f1),
        (1, 1, 0.0, 0.0, 0.0)
    );
    let violence = by_name("Violence");
    assert_eq!((violence.support, violence.predicted, violence.true_positives), (2, 3, 2));
    assert_close!(violence.precision, 2.0 / 3.0);
    assert_close!(violence.recall, 1.0);
    assert_close!(violence.f1, 0.8);

    assert!(per_category_f1(&[]).is_empty());
}
