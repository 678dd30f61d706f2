using System.Numerics;
using CurvNative.NN.Modules;

namespace CurvNative.Operators.Curvature;

/// <summary>Selecting the parameters an operator acts on, shared by every curvature operator.</summary>
internal static class ParameterSelection
{
    /// <summary>The named parameters in the model's order (so flat vectors match parameters_to_vector
    /// of the subset), or all of them when names is null. Unknown or repeated names are errors that
    /// list the model's parameters.</summary>
    public static List<Parameter<T>> Select<T>(Module<T> model, IReadOnlyList<string>? names) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var all = model.Parameters().ToList();
        if (names is null) return all;
        var known = all.Select(p => p.Name).ToHashSet();
        var unknown = names.Where(n => !known.Contains(n)).ToList();
        if (unknown.Count > 0)
            throw new ArgumentException($"Unknown parameter(s) {string.Join(", ", unknown)}; the model has {string.Join(", ", known)}.");
        var chosen = names.ToHashSet();
        if (chosen.Count != names.Count) throw new ArgumentException($"Parameter names repeat: {string.Join(", ", names)}.");
        if (chosen.Count == 0) throw new ArgumentException("The parameter subset is empty; name at least one parameter.");
        return all.Where(p => chosen.Contains(p.Name)).ToList();
    }
}
