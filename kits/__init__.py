"""The student kits of the example course (the repository's assignments/ and solutions/), made by `grader release`."""
