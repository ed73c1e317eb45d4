"""Domain logic per citizen service (NIK change, phone change, status, reactivation, complaint, case status)."""
