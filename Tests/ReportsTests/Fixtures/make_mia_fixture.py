#!/usr/bin/env python3
"""Fixture for the libsvm check: scikit-learn's SVC(C=3, gamma='auto') on fixed 1-D features.

Members and non-members imitate true-label confidences (members closer to 1); the scored samples
span both. Saves the features, sklearn's predictions (1 = member) and decision values to
mia_svc.npz. Run with a Python that has numpy and scikit-learn:
    /opt/mfvenv/bin/python Tests/ReportsTests/Fixtures/make_mia_fixture.py
Made with numpy 2.4.6 and scikit-learn 1.9.1; rerunning it reproduces the file's arrays exactly.
"""
import os
import numpy as np
from sklearn.svm import SVC

rng = np.random.default_rng(7)
members = 1 - rng.beta(1, 30, 300)
non_members = 1 - rng.beta(1, 6, 300)
scored = np.concatenate([1 - rng.beta(1, 30, 100), 1 - rng.beta(1, 6, 100)])
x = np.concatenate([members, non_members])[:, None]
y = np.concatenate([np.ones(300), np.zeros(300)])
svc = SVC(C=3, gamma="auto").fit(x, y)
np.savez(os.path.join(os.path.dirname(os.path.abspath(__file__)), "mia_svc.npz"),
         members=members, non_members=non_members, scored=scored,
         predictions=svc.predict(scored[:, None]).astype(np.int64), decisions=svc.decision_function(scored[:, None]))
