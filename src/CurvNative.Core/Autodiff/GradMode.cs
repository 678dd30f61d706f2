namespace CurvNative.Autodiff;

/// <summary>
/// Whether operations record a graph on this thread. Backward passes without create-graph run
/// with recording off, so first-order gradients cost no graph bookkeeping.
/// </summary>
public static class GradMode
{
    [ThreadStatic] private static bool _disabled;

    public static bool IsEnabled => !_disabled;

    /// <summary>Turns recording off until the returned scope is disposed.</summary>
    public static Scope Disable() => new(enabled: false);

    /// <summary>Turns recording on until the returned scope is disposed.</summary>
    public static Scope Enable() => new(enabled: true);

    public readonly struct Scope : IDisposable
    {
        private readonly bool _previousDisabled;
        internal Scope(bool enabled) { _previousDisabled = _disabled; _disabled = !enabled; }
        public void Dispose() => _disabled = _previousDisabled;
    }
}
