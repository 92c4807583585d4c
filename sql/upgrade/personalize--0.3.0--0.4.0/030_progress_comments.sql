-- training_progress names the phase the membership-inference check runs in.
COMMENT ON VIEW training_progress IS
	'running training in this database: phase (reading, splitting, tuning, fitting, evaluating, checking privacy, storing), iteration i of n, rows read, elapsed time';
COMMENT ON COLUMN training_progress.algorithm IS 'als, itemknn, rp3beta or popularity';
COMMENT ON COLUMN training_progress.phase IS 'reading, splitting, tuning, fitting, evaluating, checking privacy (the membership-inference check) or storing';
