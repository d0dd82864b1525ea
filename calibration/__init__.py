"""Touch calibration: matrix fitting, the technician procedure, drift estimation."""
