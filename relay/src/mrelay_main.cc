// Placeholder until the data plane lands; replaced by the real daemon entry point.
int main() { return 0; }
