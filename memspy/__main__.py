from memspy.cli import main

main()
